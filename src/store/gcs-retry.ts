import { retryResult } from '../util/retry';
import { SchedulerError } from '../errors';
import type { Clock } from '../util/clock';
import {
  bucketMissing,
  isProgrammingError,
  NotRetried,
  safeCause,
  serverMessage,
  statusOf,
  TransientError,
  transientReason,
} from './gcs-errors';

/** The store's retry policy: full-jitter waits within a time budget, on the store's clock. */
export interface RetrySettings {
  clock: Clock;
  random: () => number;
  retry: { budgetMs: number; minBackoffMs: number; maxBackoffMs: number };
}

/** What a call is, for messages: `get gs://bucket/name`. */
export interface CallTarget {
  operation: string;
  /** `gs://bucket/name` */
  object: string;
  bucket: string;
}

/**
 * Runs `attempt` with our policy: transient failures are retried after a full-jitter wait until
 * the next wait would cross the time budget, then STORE_UNAVAILABLE; other failures map at once.
 */
export async function retryingCall<T>(
  settings: RetrySettings,
  target: CallTarget,
  attempt: (context: { attempt: number; ambiguous: boolean }) => Promise<T>,
): Promise<T> {
  const { clock, retry } = settings;
  const { operation, object } = target;
  const started = clock.now();
  let ambiguous = false;
  const result = await retryResult<T, TransientError>(
    async (n) => {
      try {
        return { ok: true, value: await attempt({ attempt: n, ambiguous }) };
      } catch (error) {
        if (error instanceof NotRetried) throw error.original;
        const transient = transientReason(error);
        if (transient === null) throw permanentError(target, error);
        ambiguous ||= transient.ambiguous;
        return { ok: false, failure: new TransientError(transient.reason, error), retryable: true };
      }
    },
    {
      policy: {
        attempts: Number.POSITIVE_INFINITY,
        baseDelayMs: retry.minBackoffMs,
        maxDelayMs: retry.maxBackoffMs,
        budgetMs: retry.budgetMs,
      },
      clock,
      random: settings.random,
    },
  );
  if (result.ok) return result.value;
  const error = result.failure;
  const seconds = ((clock.now() - started) / 1000).toFixed(1);
  throw new SchedulerError(
    'STORE_UNAVAILABLE',
    `Cloud Storage ${operation} ${object} failed after ${result.attempts} attempts in ${seconds} s: ${error.message}`,
    {
      cause: safeCause(error.original),
      details: { operation, object, attempts: result.attempts },
    },
  );
}

/** A failure no retry fixes, as a store error naming the operation, the object and what to do. */
function permanentError(target: CallTarget, error: unknown): unknown {
  if (error instanceof SchedulerError) return error;
  const { operation, object, bucket } = target;
  const status = statusOf(error);
  if (status === undefined) {
    // A bug (TypeError and co.) stays what it is; anything else the client threw (a system error,
    // a GaxiosError whose message holds a session URI) becomes a store error with a safe message.
    if (isProgrammingError(error)) return error;
    return new SchedulerError(
      'STORE_UNAVAILABLE',
      `Cloud Storage ${operation} ${object} failed: ${serverMessage(error) || 'unknown error'}`,
      { cause: safeCause(error), details: { operation, object } },
    );
  }
  const options = { cause: safeCause(error), details: { operation, object, status } };
  const said = serverMessage(error);
  if (status === 404 && (bucketMissing(error) || operation === 'put' || operation === 'list')) {
    return new SchedulerError(
      'STORE_NOT_FOUND',
      `bucket ${bucket} does not exist (or you lack access): Cloud Storage ${operation} ${object}`,
      options,
    );
  }
  if (status === 401) {
    return new SchedulerError(
      'AUTH_NO_CREDENTIALS',
      `Cloud Storage rejected the credentials (HTTP 401) on ${operation} ${object}: ${said}`,
      options,
    );
  }
  if (status === 403) {
    return new SchedulerError(
      'STORE_FORBIDDEN',
      `permission denied (HTTP 403) on Cloud Storage ${operation} ${object}: ${said}. The service account needs roles/storage.objectAdmin on bucket ${bucket}`,
      options,
    );
  }
  return new SchedulerError(
    'STORE_UNAVAILABLE',
    `Cloud Storage ${operation} ${object} failed: HTTP ${status} ${said}`,
    options,
  );
}
