import { isRetryableStatus, networkErrorCode } from '../util/retry';
import { SchedulerError } from '../errors';
import { redactUrl } from '../util/url';

/**
 * How the Cloud Storage client's errors are read: it reports one failure in several shapes (ApiError,
 * GaxiosError, plain objects), and some of them carry credentials that must not travel further.
 */

/** A failure to pass on as it is, without retrying it or mapping it to a store error. */
export class NotRetried extends Error {
  constructor(readonly original: unknown) {
    super('not retried');
  }
}

/** The object was replaced between reading its generation and its data. */
export class ObjectChanged extends Error {
  constructor() {
    super('the object changed while it was being read');
  }
}

export class TransientError extends Error {
  attempts = 0;
  constructor(
    message: string,
    readonly original: unknown,
  ) {
    super(message);
    this.name = 'TransientError';
  }
}

/** The HTTP status of any of the shapes the client throws (ApiError, GaxiosError, plain object). */
export function statusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: unknown } } | null;
  for (const value of [e?.code, e?.status, e?.response?.status]) {
    if (typeof value === 'number' && value >= 100 && value <= 599) return value;
  }
  return undefined;
}

/** Why a failure is worth another attempt, and whether the failed attempt may have been applied. */
export function transientReason(error: unknown): { reason: string; ambiguous: boolean } | null {
  if (error instanceof SchedulerError) return null;
  const status = statusOf(error);
  if (status !== undefined) {
    if (!isRetryableStatus(status)) return null;
    return { reason: `HTTP ${status} ${serverMessage(error)}`.trim(), ambiguous: status >= 500 };
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'CONTENT_DOWNLOAD_MISMATCH')
    return { reason: 'download corrupted in transit (checksum mismatch)', ambiguous: false };
  if (error instanceof ObjectChanged) return { reason: error.message, ambiguous: false };
  if (timedOut(error)) return { reason: 'ETIMEDOUT', ambiguous: true };
  const network = networkErrorCode(error);
  if (network !== null)
    return { reason: network, ambiguous: network !== 'ECONNREFUSED' && network !== 'EAI_AGAIN' };
  return null;
}

/** A client-side timeout, from node-fetch (JSON API), gaxios (uploads, which wraps it) or fetch. */
export function timedOut(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 3; depth++) {
    const { type, name } = e as { type?: unknown; name?: unknown };
    // node-fetch (under the client) says 'request-timeout' for the headers, 'body-timeout' for the body.
    if (type === 'request-timeout' || type === 'body-timeout' || name === 'TimeoutError') return true;
    const inner = e as { error?: unknown; cause?: unknown };
    e = inner.error ?? inner.cause;
  }
  return false;
}

export function bucketMissing(error: unknown): boolean {
  return /bucket does not exist/i.test(serverMessage(error));
}

/** The server's own message, without URLs' queries (a resumable session URI is a credential). */
export function serverMessage(error: unknown): string {
  const e = error as {
    message?: unknown;
    errors?: { message?: unknown }[];
    response?: { data?: unknown };
  } | null;
  const fromData = messageOfBody(e?.response?.data);
  const raw = typeof e?.message === 'string' ? e.message : '';
  const text = messageOfBody(raw) ?? fromData ?? (raw || String(e?.errors?.[0]?.message ?? ''));
  return text.replace(/https?:\/\/[^\s"']+/g, (url) => redactUrl(url)).slice(0, 300);
}

export function messageOfBody(body: unknown): string | undefined {
  let value = body;
  if (typeof body === 'string') {
    if (!body.trimStart().startsWith('{')) return undefined;
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = (value as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === 'string' ? message : undefined;
}

/**
 * A stand-in for a client error that keeps what helps (status, code, message) and drops the rest: a
 * GaxiosError carries its request's headers, Authorization included, and URLs with session ids.
 */
export function safeCause(error: unknown): Error {
  const original = error instanceof TransientError ? error.original : error;
  const status = statusOf(original);
  const code = (original as { code?: unknown } | null)?.code;
  const name = (original as { name?: unknown } | null)?.name;
  return Object.assign(new Error(serverMessage(original) || String(name ?? 'error')), {
    name: typeof name === 'string' ? name : 'Error',
    ...(status !== undefined ? { status } : {}),
    ...(typeof code === 'string' ? { code } : {}),
  });
}

export function headerOf(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  const h = headers as { get?: unknown } & Record<string, unknown>;
  const value = typeof h.get === 'function' ? (h.get as (n: string) => unknown).call(h, name) : h[name];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

export function isProgrammingError(error: unknown): boolean {
  return (
    (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError) &&
    (error as { code?: unknown }).code === undefined
  );
}
