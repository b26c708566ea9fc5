import type { CallerCheck } from '../auth/incoming/types';
import type { Logger } from '../util/log';
import { noteCaller } from './request-log';
import { header, type AppRequest, type AppResponse } from './types';

/** What a refused caller is told: the status and nothing else (the reason goes to the log only). */
const ANSWERS = {
  401: { code: 'AUTH_REQUIRED', message: 'missing or invalid credentials' },
  403: { code: 'AUTH_FORBIDDEN', message: 'this caller may not use this function' },
  503: { code: 'AUTH_UNAVAILABLE', message: 'callers cannot be verified right now; try again later' },
} as const;

/**
 * Checks the caller of a request that reached a route (every route but GET /healthz): null when it may
 * go on, else the JSON answer. Each refusal is logged with its reason (never the credential).
 */
export async function checkCaller(
  check: CallerCheck,
  request: AppRequest,
  logger: Logger,
  extraAudiences: readonly string[] = [],
  /** Told who the allowed caller is (a pause records it). */
  onAllowed?: (caller: string) => void,
): Promise<AppResponse | null> {
  const verdict = await check.check({ authorization: header(request, 'authorization'), extraAudiences });
  // The request's log entry names who called (an e-mail, or the kind of caller), refused ones included.
  if (verdict.allowed) {
    noteCaller(request, verdict.caller);
    onAllowed?.(verdict.caller);
    return null;
  }
  if (verdict.email) noteCaller(request, verdict.email);
  const fields = {
    route: `${request.method} ${request.path}`,
    reason: verdict.reason,
    authType: check.type,
    ...(verdict.email ? { email: verdict.email } : {}),
  };
  if (verdict.status === 503) logger.error(`caller not verified: ${verdict.reason}`, fields);
  else logger.warn(`caller refused (${verdict.status}): ${verdict.reason}`, fields);
  return {
    status: verdict.status,
    body: { error: ANSWERS[verdict.status] },
    ...(verdict.status === 401 ? { headers: { 'www-authenticate': 'Bearer' } } : {}),
  };
}
