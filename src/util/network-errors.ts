/**
 * Why a request got no HTTP answer at all, named so a reader can act on it. The names follow Python
 * requests/urllib3 and the built-in OSError subclasses, as the original design's `error_type`s did.
 */
export const NETWORK_ERROR_TYPES = [
  'NameResolutionError',
  'ConnectionRefusedError',
  'ConnectionResetError',
  'ConnectTimeout',
  'ReadTimeout',
  'SSLError',
  'HostUnreachableError',
  'ConnectionError',
] as const;
export type NetworkErrorType = (typeof NETWORK_ERROR_TYPES)[number];

/** A network failure, classified. */
export interface NetworkCause {
  /** The system or library code: ENOTFOUND, ECONNREFUSED, UND_ERR_SOCKET, DEPTH_ZERO_SELF_SIGNED_CERT... */
  code: string;
  type: NetworkErrorType;
  /** What happened, for a report's `error`: "could not resolve host api.example (ENOTFOUND)". */
  description: string;
  /** Another attempt may succeed: a host that does not exist or a certificate refused will not. */
  retryable: boolean;
}

interface Kind {
  type: NetworkErrorType;
  what: string;
  retryable: boolean;
}

const resolve = (what: string, retryable: boolean): Kind => ({
  type: 'NameResolutionError',
  what,
  retryable,
});
const reset = (what: string): Kind => ({ type: 'ConnectionResetError', what, retryable: true });
const unreachable = (what: string): Kind => ({ type: 'HostUnreachableError', what, retryable: true });

/**
 * Node's system error codes (libuv, getaddrinfo: Node maps EAI_NONAME and EAI_NODATA to ENOTFOUND) and
 * undici's (fetch) error codes, as documented in Node's errors page and undici's docs/api/Errors.md.
 */
const BY_CODE: Readonly<Record<string, Kind>> = {
  ENOTFOUND: resolve('could not resolve host', false),
  EAI_FAIL: resolve('could not resolve host', false),
  EAI_AGAIN: resolve('temporary failure resolving host', true),
  ECONNREFUSED: { type: 'ConnectionRefusedError', what: 'connection refused', retryable: true },
  ECONNRESET: reset('connection reset'),
  EPIPE: reset('connection reset (broken pipe)'),
  ECONNABORTED: reset('connection aborted'),
  UND_ERR_SOCKET: reset('connection closed by the other side'),
  UND_ERR_CLOSED: reset('connection closed'),
  ETIMEDOUT: { type: 'ConnectTimeout', what: 'timed out', retryable: true },
  UND_ERR_CONNECT_TIMEOUT: { type: 'ConnectTimeout', what: 'timed out connecting', retryable: true },
  UND_ERR_HEADERS_TIMEOUT: {
    type: 'ReadTimeout',
    what: 'timed out waiting for the response headers',
    retryable: true,
  },
  UND_ERR_BODY_TIMEOUT: { type: 'ReadTimeout', what: 'timed out reading the response body', retryable: true },
  EHOSTUNREACH: unreachable('host unreachable'),
  EHOSTDOWN: unreachable('host down'),
  ENETUNREACH: unreachable('network unreachable'),
  ENETDOWN: unreachable('network down'),
};

/** OpenSSL's verify errors (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT...) and Node's TLS codes. */
const TLS_CODE =
  /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|INVALID_CA|PATH_LENGTH_|HOSTNAME_MISMATCH|ERR_TLS_|ERR_SSL_|EPROTO$)/;

/**
 * The network failure behind `error`, looked for along its `cause` chain (fetch wraps it in a
 * TypeError "fetch failed"); null when `error` is not a network failure. A fetch failure whose cause
 * has no known code is a retryable ConnectionError named by its own message, never a made-up reset.
 */
export function networkCause(error: unknown): NetworkCause | null {
  let unknown: { code: string; message: string } | null = null;
  let fetchFailed = false;
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message, name } = e as { code?: unknown; message?: unknown; name?: unknown };
    const text = typeof message === 'string' ? message : '';
    // By name: fetch's TypeError comes from Node's own realm, which `instanceof` misses in a vm (jest).
    if (name === 'TypeError' && /fetch failed|terminated|other side closed/i.test(text)) fetchFailed = true;
    if (typeof code !== 'string') {
      if (depth > 0 && text) unknown ??= { code: 'UNKNOWN', message: text };
      continue;
    }
    // A wrapper repeating its cause's code (our TransportError): the cause has the plain message.
    if ((e as { cause?: { code?: unknown } }).cause?.code === code) continue;
    const kind = BY_CODE[code];
    if (kind) return describe(code, kind, e, text);
    if (TLS_CODE.test(code)) {
      return {
        code,
        type: 'SSLError',
        description: `TLS failed: ${tlsReason(text) || 'certificate not accepted'} (${code})`,
        retryable: false,
      };
    }
    unknown ??= { code, message: text };
  }
  if (!fetchFailed) return null;
  const code = unknown?.code ?? 'UNKNOWN';
  const said = firstLine(unknown?.message ?? '') || 'network failure';
  return { code, type: 'ConnectionError', description: `${said} (${code})`, retryable: true };
}

function describe(code: string, kind: Kind, error: unknown, message: string): NetworkCause {
  const host =
    kind.type === 'NameResolutionError'
      ? ((error as { hostname?: unknown }).hostname ?? / (\S+)$/.exec(message)?.[1])
      : undefined;
  return {
    code,
    type: kind.type,
    description: `${kind.what}${typeof host === 'string' && host ? ` ${host}` : ''} (${code})`,
    retryable: kind.retryable,
  };
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim().slice(0, 200);
}

/**
 * The certificate's fault without the runtime's advice: Node >= 23 appends "; if the root CA is
 * installed locally, try running Node.js with --use-system-ca", a hint about the process's flags that
 * would make one failure read differently by runtime (and means nothing to whoever reads a report).
 */
function tlsReason(text: string): string {
  return firstLine(text).replace(/;[^;]*--use-system-ca.*$/, '');
}
