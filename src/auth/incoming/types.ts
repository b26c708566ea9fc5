/**
 * Whether a request may use the function. Reasons are for the function's own log, never for the
 * caller's answer (which says only 401, 403 or 503: nothing that helps an attacker).
 */
export type CallerVerdict =
  | { allowed: true; caller: string }
  | {
      allowed: false;
      /** 401: no valid credential; 403: a valid one whose holder is not allowed; 503: cannot verify now. */
      status: 401 | 403 | 503;
      reason: string;
      /** Who it was, when a valid token said so (a 403), for the log. */
      email?: string;
    };

export interface CallerRequest {
  /** The request's Authorization header, if any. */
  authorization: string | undefined;
  /** Audiences accepted for this route besides the configured ones (a collector route's own URL). */
  extraAudiences?: readonly string[];
}

/** Verifies the caller of one request (scheduler.incoming_auth). */
export interface CallerCheck {
  readonly type: 'google-id-token' | 'bearer' | 'none';
  check(request: CallerRequest): Promise<CallerVerdict>;
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(authorization: string | undefined): string | null {
  const match = /^Bearer +([^\s]+) *$/i.exec(authorization ?? '');
  return match ? match[1]! : null;
}

export function denied(status: 401 | 403 | 503, reason: string, email?: string): CallerVerdict {
  return email === undefined ? { allowed: false, status, reason } : { allowed: false, status, reason, email };
}
