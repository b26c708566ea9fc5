import pLimit from 'p-limit';
import pRetry from 'p-retry';
import type { HeaderProvider } from '../auth/types';
import { errorMessage } from '../errors';
import type { RunRecord } from '../runtime/contract';
import type { Clock } from '../util/clock';
import { scrub } from '../util/secrets';
import { redactUrl } from '../util/url';
import { BodyTooLargeError, excerpt, readBounded } from './read-body';
import { backoffDelayMs, isRetryableStatus, networkErrorCode, parseRetryAfter } from './retry';
import {
  safeListener,
  type CollectorOutcome,
  type DispatchOptions,
  type Dispatcher,
  type DispatchTarget,
  type ProgressListener,
} from './types';

export interface HttpDispatcherDeps {
  fetch: typeof fetch;
  clock: Clock;
  auth: HeaderProvider;
  maxConcurrent: number;
  maxResponseBytes: number;
  /** For backoff jitter; injectable so tests get exact waits. */
  random?: () => number;
}

/** One attempt's verdict: final, or worth another try (after `retryAfterMs` if the server said so). */
type Attempt =
  | { final: true; outcome: Partial<CollectorOutcome> }
  | { final: false; outcome: Partial<CollectorOutcome>; retryAfterMs: number | null };

class RetryableAttempt extends Error {
  constructor(readonly attempt: Attempt & { final: false }) {
    super(attempt.outcome.error ?? 'retryable failure');
  }
}

/**
 * Calls collectors over HTTP: bounded concurrency, a timeout per attempt, retries with full-jitter
 * backoff (or the server's Retry-After) on network errors, 408, 429 and 5xx, and an execution deadline
 * that aborts whatever is still running. Each collector settles into its own outcome: one failing,
 * hanging or answering garbage never delays or fails the others.
 */
export class HttpDispatcher implements Dispatcher {
  private readonly random: () => number;

  constructor(private readonly deps: HttpDispatcherDeps) {
    this.random = deps.random ?? Math.random;
  }

  async dispatch(targets: readonly DispatchTarget[], options: DispatchOptions): Promise<CollectorOutcome[]> {
    const limit = pLimit(this.deps.maxConcurrent);
    const emit = safeListener(options.onProgress);
    return Promise.all(
      targets.map((target) =>
        limit(async () => {
          const outcome = await this.dispatchOne(target, options.signal, emit).catch((error: unknown) =>
            // Only a bug gets here; it still becomes this collector's outcome and nobody else's.
            this.outcome(
              target,
              {
                status: 'failed',
                error: `internal error: ${errorMessage(error)}`,
                errorType: 'InternalError',
              },
              this.deps.clock.now(),
              0,
            ),
          );
          emit({ type: 'finish', outcome });
          return outcome;
        }),
      ),
    );
  }

  private async dispatchOne(
    target: DispatchTarget,
    deadline: AbortSignal,
    emit: ProgressListener,
  ): Promise<CollectorOutcome> {
    const { clock } = this.deps;
    const started = clock.now();
    if (deadline.aborted) return this.outcome(target, deadlineOutcome(deadline), started, 0);

    let attempts = 0;
    let final: Partial<CollectorOutcome>;
    try {
      final = await pRetry(
        async (attemptNumber) => {
          attempts = attemptNumber;
          emit({ type: 'start', name: target.name, attempt: attemptNumber, url: target.url });
          const attempt = await this.attempt(target, attemptNumber, deadline);
          if (!attempt.final) throw new RetryableAttempt(attempt);
          return attempt.outcome;
        },
        {
          retries: target.retry.attempts - 1,
          // The waits are ours (full jitter or Retry-After, on the injected clock), taken in onFailedAttempt.
          minTimeout: 0,
          maxTimeout: 0,
          randomize: false,
          signal: deadline,
          shouldRetry: ({ error }) => error instanceof RetryableAttempt,
          onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
            if (!(error instanceof RetryableAttempt) || retriesLeft === 0) return;
            const delayMs =
              error.attempt.retryAfterMs ?? backoffDelayMs(attemptNumber, target.retry, this.random);
            emit({
              type: 'retry',
              name: target.name,
              attempt: attemptNumber + 1,
              delayMs,
              reason: error.message,
            });
            await clock.sleep(delayMs, deadline);
          },
        },
      );
    } catch (error) {
      if (error instanceof RetryableAttempt) final = error.attempt.outcome;
      else if (deadline.aborted) final = deadlineOutcome(deadline);
      else throw error;
    }
    return this.outcome(target, final, started, attempts);
  }

  private async attempt(
    target: DispatchTarget,
    attemptNumber: number,
    deadline: AbortSignal,
  ): Promise<Attempt> {
    const { clock } = this.deps;
    const timeoutSeconds = target.timeoutMs / 1000;
    const timeout = clock.timeout(
      target.timeoutMs,
      new Error(`no answer within timeout_seconds (${timeoutSeconds} s)`),
    );
    const signal = AbortSignal.any([deadline, timeout.signal]);
    const where = `POST ${redactUrl(target.url)}`;
    try {
      let headers: Record<string, string>;
      try {
        headers = await this.deps.auth.headersFor(target.url);
      } catch (error) {
        return {
          final: true,
          outcome: { status: 'failed', error: errorMessage(error), errorType: 'AuthError' },
        };
      }
      const response = await this.deps.fetch(target.url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ ...target.payload, attempt: attemptNumber }),
        signal,
        redirect: 'manual',
      });
      let body: Buffer;
      try {
        body = await readBounded(response, this.deps.maxResponseBytes);
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          return {
            final: true,
            outcome: {
              status: 'failed',
              httpStatus: response.status,
              error: `${where} answered ${response.status} with a body over ${error.limit} bytes (scheduler.max_response_bytes); not read further`,
              errorType: 'ResponseTooLarge',
            },
          };
        }
        throw error;
      }
      return classify(where, response, body, clock.now());
    } catch (error) {
      if (deadline.aborted) return { final: true, outcome: deadlineOutcome(deadline) };
      if (timeout.signal.aborted) {
        return {
          final: true,
          outcome: {
            status: 'failed',
            error: `${where}: ${errorMessage(timeout.signal.reason)}`,
            errorType: 'Timeout',
          },
        };
      }
      const code = networkErrorCode(error);
      const message = `${where} failed: ${code ?? errorMessage(error)}`;
      return code
        ? {
            final: false,
            outcome: { status: 'failed', error: message, errorType: 'ConnectionError' },
            retryAfterMs: null,
          }
        : { final: true, outcome: { status: 'failed', error: message, errorType: 'ConnectionError' } };
    } finally {
      timeout.clear();
    }
  }

  private outcome(
    target: DispatchTarget,
    partial: Partial<CollectorOutcome>,
    startMs: number,
    attempts: number,
  ): CollectorOutcome {
    return {
      name: target.name,
      status: partial.status ?? 'failed',
      httpStatus: partial.httpStatus ?? null,
      error: partial.error === undefined || partial.error === null ? null : scrub(partial.error),
      errorType: partial.errorType ?? null,
      startMs: attempts > 0 ? startMs : null,
      endMs: attempts > 0 ? this.deps.clock.now() : null,
      attempts,
      result: partial.result ?? null,
      ...(partial.reason ? { reason: partial.reason } : {}),
      ...(partial.manifest ? { manifest: partial.manifest } : {}),
      ...(partial.extra ? { extra: partial.extra } : {}),
    };
  }
}

function deadlineOutcome(deadline: AbortSignal): Partial<CollectorOutcome> {
  return { status: 'failed', error: errorMessage(deadline.reason), errorType: 'Timeout' };
}

/** Turns a collector's HTTP answer into an outcome. */
export function classify(where: string, response: Response, body: Buffer, nowMs: number): Attempt {
  const status = response.status;
  const parsed = parseJson(body);
  const run = runRecordOf(parsed);

  if (status >= 200 && status < 300) {
    if (body.length === 0) return { final: true, outcome: { status: 'success', httpStatus: status } };
    if (parsed === undefined) {
      const type = response.headers.get('content-type') ?? 'no content type';
      return {
        final: true,
        outcome: {
          status: 'failed',
          httpStatus: status,
          error: `${where} answered ${status} with ${type}, not JSON: "${excerpt(body, 120)}"`,
          errorType: 'InvalidResponse',
        },
      };
    }
    if (!run) return { final: true, outcome: { status: 'success', httpStatus: status, result: parsed } };
    // A 2xx carrying a failed run record is a permanent failure: the collector chose not to be retried.
    if (run.status === 'failed') {
      return {
        final: true,
        outcome: {
          status: 'failed',
          httpStatus: status,
          error: run.error,
          errorType: run.errorType ?? 'CollectorError',
          result: run.result,
          manifest: run.manifest,
        },
      };
    }
    if (run.status === 'skipped') {
      return {
        final: true,
        outcome: {
          status: 'skipped',
          httpStatus: status,
          reason: run.reason ?? 'skipped',
          error: run.error,
          result: run.result,
        },
      };
    }
    return {
      final: true,
      outcome: { status: 'success', httpStatus: status, result: run.result, manifest: run.manifest },
    };
  }

  const why = run?.error ?? (body.length > 0 ? excerpt(body) : response.statusText);
  const outcome: Partial<CollectorOutcome> = {
    status: 'failed',
    httpStatus: status,
    error: `${where} answered ${status}${why ? `: ${why}` : ''}`,
    errorType: run?.errorType === 'Timeout' ? 'Timeout' : 'HTTPError',
    ...(run ? { result: run.result, manifest: run.manifest } : {}),
  };
  if (isRetryableStatus(status)) {
    return {
      final: false,
      outcome,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), nowMs),
    };
  }
  return { final: true, outcome };
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function runRecordOf(parsed: unknown): RunRecord | null {
  const run = (parsed as { run?: unknown } | null)?.run;
  if (
    run &&
    typeof run === 'object' &&
    typeof (run as RunRecord).status === 'string' &&
    typeof (run as RunRecord).collector === 'string'
  ) {
    return run as RunRecord;
  }
  return null;
}
