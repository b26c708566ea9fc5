import type { ObjectStore } from '../store/types';
import { readJson } from '../store/types';
import type { Logger } from '../util/log';
import type { RunRecord } from './contract';

/** Run records live at `<state>/runs/<executionId>/<collector>.json`. */
export function runRecordKey(executionId: string, collector: string): string {
  return `runs/${executionId}/${collector}.json`;
}

/**
 * Best effort: a run record is how Tasks-mode executions learn outcomes, but failing to store one must
 * not fail the run that produced data. The failure is logged with the whole record.
 */
export async function writeRunRecord(state: ObjectStore, record: RunRecord, log: Logger): Promise<void> {
  try {
    await state.put(
      runRecordKey(record.executionId, record.collector),
      JSON.stringify(record, null, 2) + '\n',
      {
        contentType: 'application/json',
      },
    );
  } catch (error) {
    log.error('run record could not be stored', { error: (error as Error).message, runRecord: record });
  }
}

export async function readRunRecords(
  state: ObjectStore,
  executionId: string,
): Promise<Map<string, RunRecord>> {
  const records = new Map<string, RunRecord>();
  for await (const info of state.list(`runs/${executionId}/`)) {
    const found = await readJson<RunRecord>(state, info.key).catch(() => null);
    if (found) records.set(found.value.collector, found.value);
  }
  return records;
}
