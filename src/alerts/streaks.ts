import { isPreconditionFailed, putJson, readJson, type ObjectStore } from '../store/types';

/**
 * A collector's run of consecutive failures, kept in the state store (`alerts/<collector>.json`) so
 * that every instance counts the same streak. Updated read-modify-write with generation preconditions:
 * two executions finishing at once both count, and only one of them sends the notification.
 */
export interface Streak {
  collector: string;
  consecutiveFailures: number;
  /** Start time of the first failure of the streak. */
  since: string | null;
  /** Whether this streak's notification went out (so it goes out once, and recovery is announced). */
  notified: boolean;
  lastExecutionId: string | null;
  /** Start of the last execution counted: an older execution finishing late does not count. */
  lastStart: string | null;
  lastError: string | null;
  lastErrorType: string | null;
}

export type Transition =
  { kind: 'failing'; streak: Streak } | { kind: 'recovered'; streak: Streak; failures: number } | null;

export interface RunOutcome {
  collector: string;
  failed: boolean;
  executionId: string;
  startTime: string;
  error: string | null;
  errorType: string | null;
}

const UPDATE_ATTEMPTS = 10;

export function streakKey(collector: string): string {
  return `alerts/${collector}.json`;
}

/**
 * Counts one finished run and says whether it crosses the threshold (`failing`, once per streak) or
 * ends a streak that was announced (`recovered`). A run already counted, or older than the last one
 * counted, changes nothing.
 */
export async function recordRun(state: ObjectStore, run: RunOutcome, threshold: number): Promise<Transition> {
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const current = await readJson<Streak>(state, streakKey(run.collector));
    const before = current?.value ?? emptyStreak(run.collector);
    if (before.lastExecutionId === run.executionId || (before.lastStart && before.lastStart > run.startTime))
      return null;
    const { next, transition } = step(before, run, threshold);
    try {
      await putJson(state, streakKey(run.collector), next, { ifGenerationMatch: current?.generation ?? 0 });
      return transition;
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
    }
  }
  throw new Error(`the failure count of ${run.collector} kept changing under us (${UPDATE_ATTEMPTS} tries)`);
}

/** The pure transition: the next streak, and what (if anything) to announce. */
export function step(
  before: Streak,
  run: RunOutcome,
  threshold: number,
): { next: Streak; transition: Transition } {
  const seen = { lastExecutionId: run.executionId, lastStart: run.startTime };
  if (!run.failed) {
    const next: Streak = {
      ...emptyStreak(run.collector),
      ...seen,
    };
    return {
      next,
      transition: before.notified
        ? { kind: 'recovered', streak: next, failures: before.consecutiveFailures }
        : null,
    };
  }
  const failures = before.consecutiveFailures + 1;
  const crossing = failures >= threshold && !before.notified;
  const next: Streak = {
    ...before,
    ...seen,
    consecutiveFailures: failures,
    since: before.since ?? run.startTime,
    notified: before.notified || crossing,
    lastError: run.error,
    lastErrorType: run.errorType,
  };
  return { next, transition: crossing ? { kind: 'failing', streak: next } : null };
}

function emptyStreak(collector: string): Streak {
  return {
    collector,
    consecutiveFailures: 0,
    since: null,
    notified: false,
    lastExecutionId: null,
    lastStart: null,
    lastError: null,
    lastErrorType: null,
  };
}
