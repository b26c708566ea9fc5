import type { CollectorConfig } from '../config/types';
import { isPreconditionFailed, putJson, readJson, type ObjectStore } from '../store/types';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { PauseStore, type PauseRecord } from './pause';

/**
 * `pause_after_failures: N`: a collector that failed N runs in a row pauses itself, with a note saying
 * why, until someone resumes it (which starts the count again). The count lives in the state store
 * (`<state>/schedule/streaks/<collector>.json`, compare-and-swap on its generation), so every instance
 * counts the same streak; a run counted once (Cloud Tasks may deliver twice) is not counted again.
 * Only collectors with the setting pay for the extra write.
 *
 * The alerts (src/alerts, failure_threshold) keep a streak of their own; this module is the one place to
 * change if the two are unified.
 */
interface Streak {
  collector: string;
  consecutiveFailures: number;
  lastRunId: string | null;
  lastError: string | null;
}

export const PAUSED_BY_FAILURES = 'scheduler (pause_after_failures)';

function streakKey(collector: string): string {
  return `schedule/streaks/${collector}.json`;
}

/**
 * Counts one finished run of `collector` (final: no retry will follow). Returns the pause it caused,
 * if this failure reached the threshold.
 */
export async function countRunForPause(
  deps: { stores: { state: ObjectStore }; clock: Clock; logger: Logger },
  collector: Pick<CollectorConfig, 'name' | 'scheduling'>,
  run: { runId: string; failed: boolean; error: string | null },
): Promise<PauseRecord | null> {
  const threshold = collector.scheduling.pauseAfterFailures;
  if (threshold === null) return null;
  const state = deps.stores.state;
  let failures = 0;
  for (let tries = 0; ; tries++) {
    const current = await readJson<Streak>(state, streakKey(collector.name));
    if (current?.value.lastRunId === run.runId) return null;
    failures = run.failed ? (current?.value.consecutiveFailures ?? 0) + 1 : 0;
    const next: Streak = {
      collector: collector.name,
      consecutiveFailures: failures,
      lastRunId: run.runId,
      lastError: run.failed ? run.error : null,
    };
    try {
      await putJson(state, streakKey(collector.name), next, { ifGenerationMatch: current?.generation ?? 0 });
      break;
    } catch (error) {
      if (!isPreconditionFailed(error) || tries >= 4) throw error;
    }
  }
  if (failures < threshold) return null;
  const { record, created } = await new PauseStore(state, () => deps.clock.now()).pause(
    { kind: 'collector', name: collector.name },
    {
      reason: `${failures} failed runs in a row (pause_after_failures: ${threshold}); last error: ${run.error ?? 'none given'}`,
      by: PAUSED_BY_FAILURES,
      until: null,
    },
    { onlyIfAbsent: true },
  );
  if (created)
    deps.logger.warn(`${collector.name} paused after ${failures} failed runs in a row`, {
      collector: collector.name,
      pause: record,
    });
  return created ? record : null;
}

/** A resumed collector starts counting again. */
export async function resetStreak(state: ObjectStore, collector: string): Promise<void> {
  await state.delete(streakKey(collector));
}
