/** XMP's envelope: `{"code":0,"msg":"success","data":{...}}`, HTTP 200 even for application errors. */
export interface Envelope {
  code: number;
  msg?: string;
  data?: unknown;
}

/** How an envelope's code is read: which codes mean success, a rate limit, refused credentials. */
export interface EnvelopeRules {
  successCodes: readonly number[];
  rateLimitCodes: readonly number[];
  authErrorCodes: readonly number[];
}

export type CodeClass = 'ok' | 'rate_limit' | 'auth' | 'transient' | 'permanent';

/**
 * The wordings of XMP's rate-limit answers: "Request Too Frequent" (Open API Protocol page), "Too Many
 * Requests" (Ad Report page), "request too often" (Creative Report page), "request is too frequent"
 * (Creative Library page), "请求太频繁" (public clients match "频繁").
 */
const RATE_LIMIT_WORDING = /频繁|too many|too frequent|too often/i;
/** Refused credentials: a bad signature, an invalid or expired token, no Open API permission. */
const AUTH_WORDING = /\bsign(ature)?\b|token|unauthori[sz]ed|permission|client_id|登录|签名/i;
/** Worth another attempt: the server is busy, or a signature's 30 s validity ran out on the way. */
const TRANSIENT_WORDING = /timeout|timed out|busy|try again later|system error|稍后|繁忙|超时/i;

/** Every non-zero code, classified: by the configured codes first, then by the message's wording. */
export function classifyEnvelope(code: number, msg: string | undefined, rules: EnvelopeRules): CodeClass {
  if (rules.successCodes.includes(code)) return 'ok';
  const text = msg ?? '';
  if (rules.rateLimitCodes.includes(code) || RATE_LIMIT_WORDING.test(text)) return 'rate_limit';
  if (rules.authErrorCodes.includes(code) || AUTH_WORDING.test(text)) return 'auth';
  if ((code >= 500 && code <= 599) || TRANSIENT_WORDING.test(text)) return 'transient';
  return 'permanent';
}
