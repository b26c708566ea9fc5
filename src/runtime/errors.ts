import { networkCause, type NetworkCause, type NetworkErrorType } from '../util/network-errors';
import { isRetryableStatus } from '../util/retry';
import { SchedulerError, type ErrorCode, type SchedulerErrorOptions } from '../errors';
import { redactUrl } from '../util/url';

/**
 * A failure another attempt cannot fix (bad options, an upstream 4xx). The collector route answers 2xx
 * with a failed run record, so neither the dispatcher nor Cloud Tasks retries it.
 */
export class PermanentError extends SchedulerError {
  constructor(message: string, options: SchedulerErrorOptions = {}, code: ErrorCode = 'COLLECTOR_FAILED') {
    super(code, message, options);
    this.name = 'PermanentError';
  }
}

/** A collector has nothing to do, for a reason worth reporting (e.g. missing_credentials). */
export class SkipRun extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'SkipRun';
  }
}

/** An upstream API answered an error status. Retryable unless it is a 4xx other than 408/429. */
export class UpstreamHttpError extends SchedulerError {
  readonly status: number;
  readonly retryable: boolean;
  readonly retryAfterMs: number | null;

  constructor(method: string, url: string, status: number, body: string, retryAfterMs: number | null = null) {
    super('UPSTREAM_HTTP', `${method} ${redactUrl(url)} answered ${status}${body ? `: ${body}` : ''}`, {
      details: { status },
    });
    this.name = 'UpstreamHttpError';
    this.status = status;
    this.retryable = isRetryableStatus(status);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * An upstream API gave no HTTP answer, for a named cause: could not resolve host, connection refused,
 * reset, timed out, certificate. Retryable unless the cause is one another attempt cannot fix.
 */
export class UpstreamNetworkError extends SchedulerError {
  readonly errorType: NetworkErrorType;
  readonly retryable: boolean;

  constructor(method: string, url: string, cause: NetworkCause, original: unknown) {
    // The cause first: a table or a log line cut to width still shows it.
    super('UPSTREAM_UNREACHABLE', `${cause.description}: ${method} ${redactUrl(url)}`, {
      cause: original,
      details: { code: cause.code },
    });
    this.name = 'UpstreamNetworkError';
    this.errorType = cause.type;
    this.retryable = cause.retryable;
  }
}

/** How a run error should be reported: retryable (5xx to the caller) or not. */
export function isRetryableRunError(error: unknown): boolean {
  if (error instanceof PermanentError) return false;
  if (error instanceof UpstreamHttpError || error instanceof UpstreamNetworkError) return error.retryable;
  const code = (error as { code?: unknown } | null)?.code;
  if (
    code === 'CONFIG_INVALID' ||
    code === 'REQUEST_INVALID' ||
    code === 'STORE_KEY_INVALID' ||
    code === 'UPSTREAM_INVALID'
  )
    return false;
  // A fetch failure a collector let through: a host that does not resolve will not resolve next time.
  const network = networkCause(error);
  if (network) return network.retryable;
  // Programming errors are not retried: they will fail the same way again.
  if (error instanceof TypeError && !/fetch failed|terminated/i.test(error.message)) return false;
  if (error instanceof RangeError || error instanceof SyntaxError || error instanceof ReferenceError)
    return false;
  return true;
}
