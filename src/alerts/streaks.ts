import { isPreconditionFailed, type ObjectStore } from '../store/types';

/**
 * A collector's run of consecutive failures, kept in the state store (STREAKS_KEY) so that every
 * instance counts the same streak. Updated read-modify-write with generation preconditions: two
 * executions finishing at once both count, and only one of them sends the notification.
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

/**
 * Every collector's streak in one object, `alerts/streaks.json`: an execution of 5,000 collectors
 * counts its runs in one read and one conditional write, where an object per collector took 5,000 of
 * each (25 s of the whole `scheduler run` at 5,000 collectors on the local store).
 */
export const STREAKS_KEY = 'alerts/streaks.json';

interface StreaksObject {
  collectors: Record<string, Streak>;
}

/**
 * Counts an execution's finished runs and says, by collector, which cross the threshold (`failing`,
 * once per streak) or end a streak that was announced (`recovered`). A run already counted, or older
 * than the last one counted for its collector, changes nothing. One read-modify-write of the streaks
 * object, retried when another execution wrote it in between.
 */
export async function recordRuns(
  state: ObjectStore,
  runs: readonly RunOutcome[],
  threshold: number,
): Promise<Map<string, NonNullable<Transition>>> {
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const current = await state.get(STREAKS_KEY);
    const collectors = { ...parseStreaks(current?.data) };
    const transitions = new Map<string, NonNullable<Transition>>();
    let changed = false;
    for (const run of runs) {
      const before = collectors[run.collector] ?? emptyStreak(run.collector);
      if (
        before.lastExecutionId === run.executionId ||
        (before.lastStart && before.lastStart > run.startTime)
      )
        continue;
      const { next, transition } = step(before, run, threshold);
      collectors[run.collector] = next;
      changed = true;
      if (transition) transitions.set(run.collector, transition);
    }
    if (!changed) return transitions;
    try {
      await state.put(STREAKS_KEY, JSON.stringify({ collectors } satisfies StreaksObject) + '\n', {
        contentType: 'application/json',
        ifGenerationMatch: current?.generation ?? 0,
      });
      return transitions;
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
    }
  }
  throw new Error(`the failure counts kept changing under us (${UPDATE_ATTEMPTS} tries)`);
}

/** One run's count (see recordRuns). */
export async function recordRun(state: ObjectStore, run: RunOutcome, threshold: number): Promise<Transition> {
  return (await recordRuns(state, [run], threshold)).get(run.collector) ?? null;
}

/** The stored streaks; an unreadable object (hand-edited, truncated) starts them afresh. */
function parseStreaks(data: Buffer | undefined): Record<string, Streak> {
  if (!data) return {};
  try {
    const value = JSON.parse(data.toString('utf8')) as Partial<StreaksObject> | null;
    return value?.collectors && typeof value.collectors === 'object' ? value.collectors : {};
  } catch {
    return {};
  }
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
