import { ConfigError } from '../config/errors';
import { errorMessage, isSchedulerError, type ErrorCode } from '../errors';
import type { Logger } from '../util/log';
import { scrub } from '../util/secrets';
import type { AppResponse } from './types';

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  REQUEST_INVALID: 400,
  COLLECTOR_UNKNOWN: 400,
  CONFIG_INVALID: 500,
  CONFIG_NOT_FOUND: 500,
  DUPLICATE_TRIGGER: 409,
  BACKFILL_BUSY: 409,
  STORE_URI_INVALID: 500,
  // The state store could not take a tick's claim: nothing was dispatched, and a retry may succeed.
  STORE_UNAVAILABLE: 503,
};

/** Every error answers JSON `{error: {code, message}}`; unexpected ones are logged and answered 500. */
export function errorResponse(error: unknown, logger: Logger, statusOverride?: number): AppResponse {
  if (isSchedulerError(error)) {
    const status = statusOverride ?? STATUS_BY_CODE[error.code] ?? 500;
    if (status >= 500) logger.error(error.message, { code: error.code });
    const problems = error instanceof ConfigError ? { problems: error.problems } : {};
    const executionId =
      typeof error.details['execution_id'] === 'string'
        ? { execution_id: error.details['execution_id'] }
        : {};
    return {
      status,
      body: { error: { code: error.code, message: scrub(error.message), ...problems, ...executionId } },
    };
  }
  logger.error(`unexpected error: ${errorMessage(error)}`, {
    stack: error instanceof Error ? error.stack : undefined,
  });
  return { status: 500, body: { error: { code: 'INTERNAL', message: scrub(errorMessage(error)) } } };
}

export function notFound(message: string): AppResponse {
  return { status: 404, body: { error: { code: 'NOT_FOUND', message } } };
}
