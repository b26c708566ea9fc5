import type { ObjectStore } from '../store/types';
import type { Logger } from '../util/log';
import { carryKey } from './layout';

/** Shards of one scheduled time. */
export interface CarryBatch {
  scheduledTime: string;
  keys: string[];
}

interface CarryObject {
  collector: string;
  /** The execution that carried them over. */
  executionId: string;
  batches: CarryBatch[];
}

/**
 * The shards an HTTP-mode execution did not start before its deadline: its collector's next execution
 * runs them first, for the time they were listed for (a run stays idempotent for its scheduled time).
 * An unreadable object carries nothing over (its shards are listed again by the next run anyway).
 */
export async function readCarry(state: ObjectStore, collector: string): Promise<CarryBatch[]> {
  const object = await state.get(carryKey(collector));
  if (!object) return [];
  try {
    const value = JSON.parse(object.data.toString('utf8')) as Partial<CarryObject> | null;
    return (value?.batches ?? []).filter((b) => b.keys.length > 0);
  } catch {
    return [];
  }
}

/** Writes what is left over (or removes the object when nothing is). Logged, never thrown. */
export async function writeCarry(
  state: ObjectStore,
  collector: string,
  executionId: string,
  batches: readonly CarryBatch[],
  log: Logger,
): Promise<void> {
  const left = batches.filter((b) => b.keys.length > 0);
  try {
    if (left.length === 0) {
      await state.delete(carryKey(collector));
      return;
    }
    const object: CarryObject = { collector, executionId, batches: left };
    await state.put(carryKey(collector), JSON.stringify(object), { contentType: 'application/json' });
  } catch (error) {
    log.error(`shards carried over were not recorded: ${(error as Error).message}`, {
      collector,
      carried: left.reduce((n, b) => n + b.keys.length, 0),
    });
  }
}
