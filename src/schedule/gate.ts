import type { CollectorOutcome, DispatchOptions, DispatchTarget } from '../dispatch/types';
import { errorMessage } from '../errors';
import type { Services } from '../services';
import { leaveBufferSlot, runLeaseName, stillRunning, takeBufferSlot } from './overlap';
import type { AdmittedRun } from './run-plan';

/**
 * The longest wait between two looks at a running collector's lease, for `buffer_one` and `buffer_all`.
 * @default 2 s
 */
export const OVERLAP_POLL_MS = 2_000;

type Gate = NonNullable<DispatchOptions['beforeDispatch']>;
type Deps = Pick<Services, 'clock' | 'leases' | 'stores'>;

/**
 * HTTP mode's last look before a run is sent, in its lane: its jitter (not before the execution's start
 * plus its delay), a buffered overlap policy's wait for a run of the same collector still going in any
 * instance, and, for a backfill, whether it still fits before the deadline (a run is not started when
 * its timeout no longer fits; the next call of the backfill resumes it). `skip` and `allow` need no
 * look here: the collector route takes the run's lease as it starts (overlap.ts) and skips it there.
 * Undefined when no run needs any of this, so that a plain execution pays nothing.
 */
export function dispatchGate(
  deps: Deps,
  runs: ReadonlyMap<DispatchTarget, AdmittedRun>,
  startMs: number,
  deadlineMs: number,
): Gate | undefined {
  if (![...runs.values()].some(needsGate)) return undefined;
  const { clock } = deps;
  let backfillStarted = false;
  return async (target, signal) => {
    const run = runs.get(target);
    if (!run || !needsGate(run)) return null;
    const wait = startMs + run.delayMs - clock.now();
    if (wait > 0) {
      try {
        await clock.sleep(wait, signal);
      } catch {
        return {
          status: 'failed',
          errorType: 'Timeout',
          error: `${errorMessage(signal.reason)} (during its jitter)`,
        };
      }
    }
    const verdict = await waitForTurn(deps, run, signal);
    if (verdict) return run.kind === 'backfill' ? { ...verdict, reason: 'not_started' } : verdict;
    if (run.kind === 'backfill') {
      const left = startMs + deadlineMs - clock.now();
      const timeoutMs = run.collector.timeoutSeconds * 1000;
      if (backfillStarted && left < timeoutMs) {
        return {
          status: 'skipped',
          reason: 'not_started',
          error: `not started: ${Math.max(0, Math.round(left / 1000))} s left before scheduler.deadline_seconds, less than its timeout_seconds (${timeoutMs / 1000} s); the next call of this backfill resumes here`,
        };
      }
      backfillStarted = true;
    }
    return null;
  };
}

function policyOf(run: AdmittedRun) {
  return run.overlap ?? run.collector.scheduling.overlap;
}

function needsGate(run: AdmittedRun): boolean {
  const policy = policyOf(run);
  return run.delayMs > 0 || run.kind === 'backfill' || policy === 'buffer_one' || policy === 'buffer_all';
}

/** null when the run may go; else why it was skipped (still running, past the deadline). */
async function waitForTurn(
  deps: Deps,
  run: AdmittedRun,
  signal: AbortSignal,
): Promise<Partial<CollectorOutcome> | null> {
  const { clock, leases } = deps;
  const name = run.collector.name;
  const policy = policyOf(run);
  if (policy !== 'buffer_one' && policy !== 'buffer_all') return null;
  let running = await leases.current(runLeaseName(name));
  if (!running) return null;
  const skip = (waiting: string) => {
    const why = stillRunning(name, running!, policy);
    return {
      status: 'skipped' as const,
      reason: 'still_running',
      error: `${why.message}${waiting}`,
      extra: why.details,
    };
  };
  const state = deps.stores.state;
  if (policy === 'buffer_one' && !(await takeBufferSlot(state, name, run.runId, clock.now())).taken) {
    return skip('; another run already waits (buffer_one)');
  }
  try {
    for (;;) {
      const pause = Math.min(OVERLAP_POLL_MS, Math.max(1, running.expiresAt - clock.now()));
      try {
        await clock.sleep(pause, signal);
      } catch {
        return skip(`; waited until the deadline (${errorMessage(signal.reason)})`);
      }
      const next = await leases.current(runLeaseName(name));
      if (!next) return null;
      running = next;
    }
  } finally {
    if (policy === 'buffer_one') await leaveBufferSlot(state, name, run.runId);
  }
}
