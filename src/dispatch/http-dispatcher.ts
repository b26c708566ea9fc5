import pLimit from 'p-limit';
import type { HeaderProvider } from '../auth/types';
import { errorMessage } from '../errors';
import type { RunRecord } from '../runtime/contract';
import type { Clock } from '../util/clock';
import { scrub } from '../util/secrets';
import { redactUrl } from '../util/url';
import { excerpt } from './read-body';
import { DEFAULT_LEASE_TTL_MS, GROUP_LEASE_HEADER, groupLeaseName, LeaseManager } from '../lease/lease';
import { backoffDelayMs, isRetryableStatus, networkErrorCode, parseRetryAfter } from './retry';
import { TransportError, type HttpTransport, type TransportResponse } from './transport';
import {
  safeListener,
  type CollectorOutcome,
  type DispatchOptions,
  type Dispatcher,
  type DispatchTarget,
  type ProgressListener,
} from './types';

/** Collectors see who calls them. */
const USER_AGENT = 'collector-scheduler';

export interface HttpDispatcherDeps {
  transport: HttpTransport;
  clock: Clock;
  auth: HeaderProvider;
  maxConcurrent: number;
  maxResponseBytes: number;
  /** For backoff jitter; injectable so tests get exact waits. */
  random?: () => number;
  /** Group leases; without them group members are only serialised within this execution. */
  leases?: LeaseManager;
  leaseTtlMs?: number;
}

/** One attempt's verdict: final, or worth another try (after `retryAfterMs` if the server said so). */
type Attempt =
  | { final: true; outcome: Partial<CollectorOutcome> }
  | { final: false; outcome: Partial<CollectorOutcome>; retryAfterMs: number | null };

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
    const outcomes = new Map<DispatchTarget, CollectorOutcome>();
    // A group's members run one after another, in config order, in one slot; others run side by side.
    await Promise.all(
      lanes(targets).map((lane) =>
        limit(async () => {
          for (const target of lane) {
            const outcome = await this.gated(target, options, emit).catch((error: unknown) =>
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
            outcomes.set(target, outcome);
            emit({ type: 'finish', outcome });
          }
        }),
      ),
    );
    return targets.map((t) => outcomes.get(t)!);
  }

  /** A target the `beforeDispatch` hook may settle without sending it. */
  private async gated(
    target: DispatchTarget,
    options: DispatchOptions,
    emit: ProgressListener,
  ): Promise<CollectorOutcome> {
    const held = options.beforeDispatch ? await options.beforeDispatch(target, options.signal) : null;
    if (held) return this.outcome(target, held, this.deps.clock.now(), 0);
    return this.dispatchMember(target, options.signal, emit);
  }

  /**
   * A group member runs under its group's lease, so that it never overlaps a member started by another
   * execution (another instance, a manual run). The lease is named to the collector in a header, so a
   * collector route of ours knows the scheduler already holds it on its behalf.
   */
  private async dispatchMember(
    target: DispatchTarget,
    deadline: AbortSignal,
    emit: ProgressListener,
  ): Promise<CollectorOutcome> {
    const leases = this.deps.leases;
    if (!target.group || !leases) return this.dispatchOne(target, deadline, emit, {});
    const started = this.deps.clock.now();
    const holder = LeaseManager.holderId(target.payload.executionId, target.name);
    const result = await leases.acquire(groupLeaseName(target.group), holder, {
      ttlMs: this.deps.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
      waitMs: target.groupWaitMs,
      signal: deadline,
    });
    if (deadline.aborted) {
      if (result.acquired) await result.lease.release();
      return this.outcome(target, deadlineOutcome(deadline), started, 0);
    }
    if (!result.acquired) {
      return this.outcome(
        target,
        {
          status: 'skipped',
          reason: 'group_busy',
          error: `group ${target.group} is busy: ${result.holder.holder.split('/')[1] ?? 'a member'} of execution ${result.holder.executionId} holds it (waited ${target.groupWaitMs / 1000} s, group_wait_seconds)`,
          extra: { group: target.group, holder_execution_id: result.holder.executionId },
        },
        started,
        0,
      );
    }
    try {
      return await this.dispatchOne(target, deadline, emit, { [GROUP_LEASE_HEADER]: holder });
    } finally {
      await result.lease.release();
    }
  }

  /**
   * The retry loop over the pure policy in retry.ts. (p-retry, which the collectors' upstream client
   * uses, cost 0.09 ms of CPU per dispatch in the fan-out benchmark, a fifth of the total; this loop is
   * the same policy without it.)
   */
  private async dispatchOne(
    target: DispatchTarget,
    deadline: AbortSignal,
    emit: ProgressListener,
    extraHeaders: Record<string, string>,
  ): Promise<CollectorOutcome> {
    const { clock } = this.deps;
    const started = clock.now();
    if (deadline.aborted) return this.outcome(target, deadlineOutcome(deadline), started, 0);
    for (let attempt = 1; ; attempt++) {
      emit({ type: 'start', name: target.name, attempt, url: target.url });
      const result = await this.attempt(target, attempt, deadline, extraHeaders);
      if (result.final || attempt >= target.retry.attempts)
        return this.outcome(target, result.outcome, started, attempt);
      const delayMs = result.retryAfterMs ?? backoffDelayMs(attempt, target.retry, this.random);
      emit({
        type: 'retry',
        name: target.name,
        attempt: attempt + 1,
        delayMs,
        reason: result.outcome.error ?? 'retryable failure',
      });
      try {
        await clock.sleep(delayMs, deadline);
      } catch {
        return this.outcome(target, deadlineOutcome(deadline), started, attempt);
      }
    }
  }

  private async attempt(
    target: DispatchTarget,
    attemptNumber: number,
    deadline: AbortSignal,
    extraHeaders: Record<string, string>,
  ): Promise<Attempt> {
    // Only failures need the description; parsing the URL for each success is measurable at scale.
    const where = () => `POST ${redactUrl(target.url)}`;
    let headers: Record<string, string>;
    try {
      headers = await this.deps.auth.headersFor(target.url);
    } catch (error) {
      return {
        final: true,
        outcome: { status: 'failed', error: errorMessage(error), errorType: 'AuthError' },
      };
    }
    let response: TransportResponse;
    try {
      response = await this.deps.transport.post(target.url, {
        headers: {
          ...headers,
          ...extraHeaders,
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': USER_AGENT,
        },
        body: JSON.stringify({ ...target.payload, attempt: attemptNumber }),
        timeoutMs: target.timeoutMs,
        signal: deadline,
        maxBytes: this.deps.maxResponseBytes,
      });
    } catch (error) {
      if (deadline.aborted) return { final: true, outcome: deadlineOutcome(deadline) };
      if (!(error instanceof TransportError)) throw error;
      switch (error.kind) {
        case 'timeout':
          return {
            final: true,
            outcome: {
              status: 'failed',
              error: `${where()}: no answer within timeout_seconds (${target.timeoutMs / 1000} s)`,
              errorType: 'Timeout',
            },
          };
        case 'too-large':
          return {
            final: true,
            outcome: {
              status: 'failed',
              httpStatus: error.status,
              error: `${where()} answered ${error.status} with a body over ${this.deps.maxResponseBytes} bytes (scheduler.max_response_bytes); not read further`,
              errorType: 'ResponseTooLarge',
            },
          };
        default: {
          const retryable = error.code !== null && networkErrorCode(error) !== null;
          const outcome: Partial<CollectorOutcome> = {
            status: 'failed',
            error: `${where()} failed: ${error.message}`,
            errorType: 'ConnectionError',
          };
          return retryable ? { final: false, outcome, retryAfterMs: null } : { final: true, outcome };
        }
      }
    }
    return classify(where, response, this.deps.clock.now());
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
export function classify(where: () => string, response: TransportResponse, nowMs: number): Attempt {
  const { status, body } = response;
  const parsed = parseJson(body);
  const run = runRecordOf(parsed);

  if (status >= 200 && status < 300) {
    if (body.length === 0) return { final: true, outcome: { status: 'success', httpStatus: status } };
    if (parsed === undefined) {
      const type = response.headers['content-type'] ?? 'no content type';
      return {
        final: true,
        outcome: {
          status: 'failed',
          httpStatus: status,
          error: `${where()} answered ${status} with ${type}, not JSON: "${excerpt(body, 120)}"`,
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
          ...(run.details ? { extra: run.details } : {}),
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
    error: `${where()} answered ${status}${why ? `: ${why}` : ''}`,
    errorType: run?.errorType === 'Timeout' ? 'Timeout' : 'HTTPError',
    ...(run ? { result: run.result, manifest: run.manifest } : {}),
  };
  if (isRetryableStatus(status)) {
    return {
      final: false,
      outcome,
      retryAfterMs: parseRetryAfter(headerValue(response.headers['retry-after']), nowMs),
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * One lane per group (its members in config order) and one per ungrouped collector (its runs one after
 * another: a catch-up before the tick's own run, a backfill's times), unless a target names its own.
 */
export function lanes(targets: readonly DispatchTarget[]): DispatchTarget[][] {
  const byGroup = new Map<string, DispatchTarget[]>();
  const out: DispatchTarget[][] = [];
  for (const t of targets) {
    const key = t.group ? `group:${t.group}` : `lane:${t.lane ?? t.name}`;
    let lane = byGroup.get(key);
    if (!lane) {
      lane = [];
      byGroup.set(key, lane);
      out.push(lane);
    }
    lane.push(t);
  }
  return out;
}
