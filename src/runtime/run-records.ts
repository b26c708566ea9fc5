import pLimit from 'p-limit';
import { isPreconditionFailed, readJson, type ObjectStore } from '../store/types';
import type { Logger } from '../util/log';
import type { RunRecord } from './contract';

/**
 * Run records live at `<state>/runs/<executionId>/<collector>.json`; a shard's with its execution's other
 * shards of the collector, `<state>/shards/<executionId>/<collector>/runs/<shard>.json` (see
 * shards/layout.ts), so that listing an execution's runs never walks thousands of shards.
 */
export function runRecordKey(executionId: string, collector: string, shard?: string): string {
  return shard === undefined
    ? `runs/${executionId}/${collector}.json`
    : `shards/${executionId}/${collector}/runs/${shard}.json`;
}

/** Reads of run records in flight at once (a report of many collectors reads one record each). */
const READ_CONCURRENCY = 16;

/**
 * The record a run owns: written when it starts, overwritten when it ends, but only if nobody started
 * another run of it since (compare-and-swap on the generation written at the start). Cloud Tasks can
 * deliver a task twice and retries an attempt it stopped waiting for while that attempt may still be
 * going: the run that started last owns the record, and an older one ending later never clobbers it.
 */
export interface RunRecordClaim {
  /** The attempt number this run records (see `claimRunRecord`). */
  readonly attempt: number;
  /** Writes the run's final record; false when a later run of it owns the record now. */
  finish(record: RunRecord): Promise<boolean>;
}

/**
 * Writes a run's first record (status running, or a skip) and returns its claim. The attempt recorded
 * is the payload's, unless a record of an equal or later attempt exists: then it is that one's plus one.
 * (Cloud Tasks delivers the same body on every retry, attempt 1 included; a retry's number comes from
 * the record of the attempt before it, or from X-CloudTasks-TaskRetryCount when the route passes it in.)
 *
 * Best effort: failing to store a record must not fail a run that produces data. A failure is logged
 * with the whole record, and the claim then writes unconditionally.
 */
export async function claimRunRecord(
  state: ObjectStore,
  record: RunRecord,
  log: Logger,
): Promise<RunRecordClaim> {
  const key = runRecordKey(record.executionId, record.collector, record.shard);
  let current: RunRecord = record;
  let generation: string | null = null;
  try {
    for (let tries = 0; tries < 5 && generation === null; tries++) {
      const previous = await readJson<RunRecord>(state, key).catch(() => null);
      const before = previous?.value.attempt ?? 0;
      current = { ...record, attempt: record.attempt > before ? record.attempt : before + 1 };
      try {
        generation = (
          await state.put(key, serialise(current), {
            contentType: 'application/json',
            ifGenerationMatch: previous?.generation ?? 0,
          })
        ).generation;
      } catch (error) {
        // Another run of it started at the same moment: number this one after it.
        if (!isPreconditionFailed(error)) throw error;
      }
    }
    if (generation === null) await state.put(key, serialise(current), { contentType: 'application/json' });
  } catch (error) {
    log.error('run record could not be stored', { error: (error as Error).message, runRecord: current });
  }
  const attempt = current.attempt;
  return {
    attempt,
    async finish(final) {
      const next = { ...final, attempt };
      try {
        await state.put(key, serialise(next), {
          contentType: 'application/json',
          ...(generation === null ? {} : { ifGenerationMatch: generation }),
        });
        return true;
      } catch (error) {
        if (isPreconditionFailed(error)) {
          log.warn('run record left to a later run of this collector (a retry or a duplicate delivery)', {
            collector: final.collector,
            executionId: final.executionId,
            attempt,
            status: final.status,
          });
          return false;
        }
        log.error('run record could not be stored', { error: (error as Error).message, runRecord: next });
        return false;
      }
    },
  };
}

/** Writes a record unconditionally (best effort, logged on failure). */
export async function writeRunRecord(state: ObjectStore, record: RunRecord, log: Logger): Promise<void> {
  try {
    await state.put(runRecordKey(record.executionId, record.collector), serialise(record), {
      contentType: 'application/json',
    });
  } catch (error) {
    log.error('run record could not be stored', { error: (error as Error).message, runRecord: record });
  }
}

export async function readRunRecord(
  state: ObjectStore,
  executionId: string,
  collector: string,
  shard?: string,
): Promise<RunRecord | null> {
  return (
    (await readJson<RunRecord>(state, runRecordKey(executionId, collector, shard)).catch(() => null))
      ?.value ?? null
  );
}

/** Every run record of an execution, by collector. */
export async function readRunRecords(
  state: ObjectStore,
  executionId: string,
): Promise<Map<string, RunRecord>> {
  const keys: string[] = [];
  for await (const info of state.list(`runs/${executionId}/`)) keys.push(info.key);
  const limit = pLimit(READ_CONCURRENCY);
  const found = await Promise.all(
    keys.map((key) => limit(() => readJson<RunRecord>(state, key).catch(() => null))),
  );
  const records = new Map<string, RunRecord>();
  for (const f of found) if (f) records.set(f.value.collector, f.value);
  return records;
}

function serialise(record: RunRecord): string {
  return JSON.stringify(record, null, 2) + '\n';
}
