import pLimit, { type LimitFunction } from 'p-limit';
import type { HeaderProvider } from '../auth/types';
import { errorMessage } from '../errors';
import type { Clock } from '../util/clock';
import { scrub } from '../util/secrets';
import { GROUP_LEASE_HEADER, groupLeaseName, LeaseManager } from '../lease/lease';
import { postAttempt, stoppedOutcome } from './http-attempt';
import { lanes } from './lanes';
import { whyNotRetried } from './why-not-retried';
import { policyFromConfig, retryResult } from '../util/retry';
import type { HttpTransport } from './transport';
import {
  safeListener,
  type CollectorOutcome,
  type DispatchOptions,
  type Dispatcher,
  type DispatchTarget,
  type ProgressListener,
} from './types';

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
    const run: Run = {
      // Only a call in flight holds a slot: waits (backoff, Retry-After, a group's lease) never do.
      slots: pLimit(this.deps.maxConcurrent),
      emit: safeListener(options.onProgress),
      deadlineAtMs: options.deadlineAtMs ?? Number.POSITIVE_INFINITY,
    };
    const outcomes = new Map<DispatchTarget, CollectorOutcome>();
    const settle = (target: DispatchTarget): Promise<void> =>
      this.gated(target, options, run)
        .catch((error: unknown) =>
          // Only a bug gets here; it still becomes this collector's outcome and nobody else's.
          this.outcome(
            target,
            { status: 'failed', error: `internal error: ${errorMessage(error)}`, errorType: 'InternalError' },
            this.deps.clock.now(),
            0,
          ),
        )
        .then((outcome) => {
          outcomes.set(target, outcome);
          run.emit({ type: 'finish', outcome });
        });
    // A group's members run one after another, in config order; other collectors run side by side.
    // (Every collector starts at once, waiting for a slot: no async frame more than needed, at 5,000.)
    await Promise.all(
      lanes(targets).map((lane) =>
        lane.length === 1
          ? settle(lane[0]!)
          : (async () => {
              for (const target of lane) await settle(target);
            })(),
      ),
    );
    return targets.map((t) => outcomes.get(t)!);
  }

  /** A target the `beforeDispatch` hook may settle without sending it. */
  private gated(target: DispatchTarget, options: DispatchOptions, run: Run): Promise<CollectorOutcome> {
    const hook = options.beforeDispatch;
    // Without a hook, no extra async frame per collector (the fan-out's memory at 5,000).
    if (!hook) return this.dispatchMember(target, options.signal, run);
    return hook(target, options.signal).then((held) =>
      held
        ? this.outcome(target, held, this.deps.clock.now(), 0)
        : this.dispatchMember(target, options.signal, run),
    );
  }

  /**
   * A group member runs under its group's lease, so that it never overlaps a member started by another
   * execution (another instance, a manual run). The lease is named to the collector in a header, so a
   * collector route of ours knows the scheduler already holds it on its behalf.
   */
  private async dispatchMember(
    target: DispatchTarget,
    deadline: AbortSignal,
    run: Run,
  ): Promise<CollectorOutcome> {
    const leases = this.deps.leases;
    if (!target.group || !leases) return this.dispatchOne(target, deadline, run, {});
    const started = this.deps.clock.now();
    const holder = LeaseManager.holderId(target.payload.executionId, target.name);
    const result = await leases.acquire(groupLeaseName(target.group), holder, {
      ttlMs: this.deps.leaseTtlMs ?? leases.ttlMs,
      waitMs: target.groupWaitMs,
      signal: deadline,
    });
    if (deadline.aborted) {
      if (result.acquired) await result.lease.release();
      return this.outcome(target, stoppedOutcome(deadline), started, 0);
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
      // A lease that could not be renewed in time stops the call: the next holder may start any moment.
      const signal = AbortSignal.any([deadline, result.lease.lost]);
      return await this.dispatchOne(target, signal, run, { [GROUP_LEASE_HEADER]: holder });
    } finally {
      await result.lease.release();
    }
  }

  /**
   * One collector's attempts, retried by the shared helper (util/retry.ts) with the collector's policy,
   * a Retry-After capped at its max backoff, and no wait past the execution deadline. (p-retry cost
   * 0.09 ms of CPU per dispatch in the fan-out benchmark, a fifth of the total; the helper is the same
   * policy without it.) Each attempt takes a concurrency slot and gives it back before any wait, so a
   * collector told to come back later never starves the others.
   */
  private async dispatchOne(
    target: DispatchTarget,
    signal: AbortSignal,
    run: Run,
    extraHeaders: Record<string, string>,
  ): Promise<CollectorOutcome> {
    const { clock } = this.deps;
    let started: number | null = null;
    const result = await retryResult<Partial<CollectorOutcome> | null, Partial<CollectorOutcome>>(
      async (attempt) => {
        const verdict = await run.slots(async () => {
          if (signal.aborted) return null;
          started ??= clock.now();
          run.emit({ type: 'start', name: target.name, attempt, url: target.url });
          return postAttempt(this.deps, target, attempt, signal, extraHeaders);
        });
        if (verdict === null) return { ok: true, value: null };
        if (verdict.final) return { ok: true, value: verdict.outcome };
        return { ok: false, failure: verdict.outcome, retryable: true, retryAfterMs: verdict.retryAfterMs };
      },
      {
        policy: policyFromConfig(target.retry, { maxRetryAfterMs: target.retry.maxBackoffSeconds * 1000 }),
        clock,
        signal,
        random: this.random,
        deadlineAtMs: run.deadlineAtMs,
        onRetry: ({ failure, attempt, delayMs }) =>
          run.emit({
            type: 'retry',
            name: target.name,
            attempt,
            delayMs,
            reason: failure.error ?? 'retryable failure',
          }),
      },
    );
    if (result.ok) {
      // null: the signal stopped it before this attempt could start.
      if (result.value === null || started === null)
        return this.outcome(target, stoppedOutcome(signal), started ?? clock.now(), result.attempts - 1);
      return this.outcome(target, result.value, started, result.attempts);
    }
    const startMs = started ?? clock.now();
    const { stop, failure, attempts } = result;
    if (stop.kind === 'aborted') return this.outcome(target, stoppedOutcome(signal), startMs, attempts);
    const why = whyNotRetried(stop, target.retry.maxBackoffSeconds);
    if (why === null) return this.outcome(target, failure, startMs, attempts);
    const error = `${failure.error ?? 'retryable failure'}; ${why.text}`;
    return this.outcome(
      target,
      { ...failure, error, extra: { ...failure.extra, ...why.extra } },
      startMs,
      attempts,
    );
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

/** What the dispatch of one collector shares with the others of one execution. */
interface Run {
  slots: LimitFunction;
  emit: ProgressListener;
  /** When the execution's signal aborts, on the clock (infinite when not known). */
  deadlineAtMs: number;
}

export { lanes } from './lanes';
