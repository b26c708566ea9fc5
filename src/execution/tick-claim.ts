import { createHash } from 'node:crypto';
import { SchedulerError } from '../errors';
import { isPreconditionFailed, putJson, readJson, type ObjectStore } from '../store/types';
import type { Selection, Trigger } from './trigger';

interface TickMarker {
  key: string;
  executionId: string;
  claimedAt: string;
}

/** A second trigger of a tick that already ran or is running. */
export class DuplicateTriggerError extends SchedulerError {
  constructor(
    readonly firstExecutionId: string,
    tick: string,
  ) {
    super(
      'DUPLICATE_TRIGGER',
      `the tick ${tick} was already triggered: execution ${firstExecutionId} ran or is running it; nothing was dispatched (send "force": true, or scheduler run --force, to run it again)`,
      { details: { execution_id: firstExecutionId } },
    );
    this.name = 'DuplicateTriggerError';
  }
}

/**
 * Cloud Scheduler delivers at least once, and retries: the first trigger of a tick must win. The tick's
 * key is its time plus the job's name (and the collectors it names, if any); a marker object created
 * only if absent, under `<state>/ticks/YYYY-MM-DD/`, decides. Manual triggers have no tick and never
 * conflict. Returns the key claimed, or throws DuplicateTriggerError.
 */
export async function claimTick(
  state: ObjectStore,
  trigger: Trigger,
  selection: Selection,
  executionId: string,
  nowMs: number,
): Promise<string | null> {
  if (trigger.tickMs === null) return null;
  const tick = new Date(selection.scheduledTimeMs).toISOString();
  const key = [
    tick,
    trigger.jobName ?? '',
    trigger.collectors ? [...trigger.collectors].sort().join(',') : '*',
  ].join('|');
  const objectKey = `ticks/${tick.slice(0, 10)}/${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`;
  const marker: TickMarker = { key, executionId, claimedAt: new Date(nowMs).toISOString() };
  try {
    await putJson(state, objectKey, marker, { ifGenerationMatch: 0 });
    return key;
  } catch (error) {
    if (!isPreconditionFailed(error)) throw error;
  }
  if (trigger.force) return key;
  const first = await readJson<TickMarker>(state, objectKey);
  throw new DuplicateTriggerError(first?.value.executionId ?? 'unknown', tick);
}
