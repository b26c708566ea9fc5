/**
 * Every error the scheduler raises on purpose carries one of these codes. Codes are stable: reports,
 * HTTP error bodies and logs use them, and errors crossing a process boundary as JSON are classified
 * by `code`, never by `instanceof`.
 */
export const ERROR_CODES = {
  CONFIG_NOT_FOUND: 'the config file does not exist or cannot be read',
  CONFIG_INVALID: 'the config file is not valid',
  REQUEST_INVALID: 'a request (HTTP body, CLI option) is malformed',
  COLLECTOR_UNKNOWN: 'a collector name is not configured or not registered',
  COLLECTOR_DUPLICATE: 'two collectors were registered under one name',
  COLLECTOR_TIMEOUT: 'a collector did not finish in time',
  COLLECTOR_FAILED: 'a collector run failed',
  COLLECTOR_RESPONSE_INVALID: 'a collector answered something that is not a valid response',
  UPSTREAM_HTTP: 'an upstream API answered an error status',
  UPSTREAM_INVALID: 'an upstream API answered something unexpected',
  UPSTREAM_UNREACHABLE: 'an upstream API could not be reached (name, connection, TLS)',
  STORE_URI_INVALID: 'a storage location is not a valid path or gs:// URI',
  STORE_KEY_INVALID: 'an object key is not valid',
  STORE_NOT_FOUND: 'an object or bucket does not exist',
  STORE_PRECONDITION: 'a conditional write lost to a concurrent writer',
  STORE_FORBIDDEN: 'the credentials may not read or write that bucket',
  STORE_UNAVAILABLE: 'the store failed after retries',
  AUTH_TOKEN_MISSING: 'a configured token is not available',
  AUTH_REQUIRED: 'a request to the function carried no valid credential',
  AUTH_FORBIDDEN: 'a request to the function carried a valid credential of a caller not allowed',
  AUTH_UNAVAILABLE: 'callers of the function cannot be verified (certificates or token unavailable)',
  AUTH_NO_CREDENTIALS: 'no Google credentials are available',
  AUTH_ID_TOKEN_INVALID: 'the metadata server answered an unusable ID token',
  AUTH_ID_TOKEN_UNAVAILABLE: 'no ID token could be obtained (metadata server down or slow)',
  SECRET_NOT_FOUND: 'a Secret Manager secret or version does not exist',
  SECRET_UNAVAILABLE: 'Secret Manager could not be reached',
  SECRET_FORBIDDEN: 'the credentials may not read that secret',
  TASKS_FAILED: 'a Cloud Task could not be created',
  LEASE_BUSY: 'a lease is held by someone else',
  LEASE_LOST: 'a lease could not be renewed before it expired; its holder stopped',
  TOKEN_LOGIN_FAILED: 'logging in to an account failed (here or in the job that was logging in)',
  TOKEN_REFUSED: 'an upstream refused a token or signature the account should accept',
  DUPLICATE_TRIGGER: 'this tick was already triggered',
  BACKFILL_BUSY: 'another call is running this backfill',
  CANCELLED: 'a signal (SIGINT, SIGTERM) stopped the execution',
  INTERNAL: 'a bug: an error nobody expected',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface SchedulerErrorOptions {
  cause?: unknown;
  /** Structured, non-secret context (key paths, collector names, HTTP statuses). */
  details?: Record<string, unknown>;
}

export class SchedulerError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: SchedulerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SchedulerError';
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return Object.keys(this.details).length > 0
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

/** A bad request: maps to HTTP 400 and CLI exit code 2. */
export class RequestError extends SchedulerError {
  constructor(message: string, options: SchedulerErrorOptions = {}, code: ErrorCode = 'REQUEST_INVALID') {
    super(code, message, options);
    this.name = 'RequestError';
  }
}

export function isSchedulerError(error: unknown, code?: ErrorCode): error is SchedulerError {
  if (!(error instanceof Error)) return false;
  const c = (error as { code?: unknown }).code;
  return typeof c === 'string' && c in ERROR_CODES && (code === undefined || c === code);
}

/** A one-line message for any thrown value, safe to put in a report. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
}
