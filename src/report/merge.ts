import pLimit from 'p-limit';
import type { RunRecord } from '../runtime/contract';
import { readRunRecord } from '../runtime/run-records';
import type { ObjectStore } from '../store/types';
import { redact } from '../util/secrets';
import { hasShards, withShardIndex } from '../shards/report';
import {
  collectorOfKey,
  partialFields,
  summarise,
  type CollectorReport,
  type ExecutionReport,
} from './report';

/** Run records read at once for one report. */
const READ_CONCURRENCY = 16;

/** Report entries whose outcome is still to come from the collector's run record. */
const PENDING = new Set(['scheduled', 'running']);

/**
 * The report as stored, with what collectors recorded since (run records under
 * `<state>/runs/<executionId>/`): how Tasks-mode executions learn how each run ended. Only entries the
 * scheduler could not settle itself (`scheduled`, `running`) change; an HTTP-mode verdict stands. Keys
 * and their order stay as stored, `summary` is recomputed, the stored report is left untouched.
 *
 * A duplicate (a task refused because another execution had created it) shows the run of the
 * execution that owns the task, when the dispatcher learned which one (`duplicate_of`).
 */
export async function withRunRecords(
  report: ExecutionReport,
  state: ObjectStore,
  nowMs: number = Date.now(),
): Promise<ExecutionReport> {
  const waiting = Object.entries(report.collectors).filter(([, c]) => PENDING.has(c.status));
  if (waiting.length === 0) return report;
  // Sharded collectors are read from their shard index, never from thousands of run records.
  const sharded = await Promise.all(
    waiting
      .filter(([, c]) => hasShards(c))
      .map(async ([name, entry]) => {
        const merged = await withShardIndex(entry, state, report.execution_id, name, nowMs).catch(() => null);
        return [name, merged] as const;
      }),
  );
  const pending = waiting.filter(([, c]) => !hasShards(c));
  const limit = pLimit(READ_CONCURRENCY);
  const records = await Promise.all(
    pending.map(([name, entry]) =>
      limit(() => readRunRecord(state, ownerOf(report, entry), collectorOfKey(name)).catch(() => null)),
    ),
  );
  const merged = new Map<string, CollectorReport>();
  for (const [name, entry] of sharded) if (entry) merged.set(name, entry);
  pending.forEach(([name, entry], i) => {
    const record = records[i];
    if (record) merged.set(name, mergeRecord(entry, abandoned(record, nowMs) ?? record));
  });
  if (merged.size === 0) return report;
  const collectors = Object.fromEntries(
    Object.entries(report.collectors).map(([name, entry]) => [name, merged.get(name) ?? entry]),
  );
  return { ...report, collectors, summary: summarise(collectors) };
}

/**
 * The execution id a run recorded itself under: the owner of a duplicate's task, else the run's own id
 * (`<execution>.<time>` for catch-up and backfill runs), else the report's.
 */
function ownerOf(report: ExecutionReport, entry: CollectorReport): string {
  for (const field of ['duplicate_of', 'run_id']) {
    const owner = entry[field];
    if (typeof owner === 'string' && owner !== '') return owner;
  }
  return report.execution_id;
}

/** A `running` record this long past its expiry is taken for a run whose instance stopped. */
export const ABANDONED_GRACE_MS = 60_000;

/** The record as a timed-out failure if it still says running long after it should have ended. */
function abandoned(record: RunRecord, nowMs: number): RunRecord | null {
  const expiry = record.expiresAt ? Date.parse(record.expiresAt) : NaN;
  if (record.status !== 'running' || !(nowMs > expiry + ABANDONED_GRACE_MS)) return null;
  return {
    ...record,
    status: 'failed',
    errorType: 'Timeout',
    retryable: false,
    endTime: record.expiresAt ?? null,
    error: `no outcome was recorded by ${record.expiresAt} (start plus timeout): the run's instance stopped before it could record one`,
  };
}

/** One report entry updated from its run record. */
export function mergeRecord(entry: CollectorReport, record: RunRecord): CollectorReport {
  const maxAttempts = entry['task_max_attempts'];
  // A retryable failure is not the end while Cloud Tasks has attempts left (-1: unlimited).
  const retrying =
    (record.status === 'failed' || record.status === 'skipped') &&
    record.retryable &&
    typeof maxAttempts === 'number' &&
    (maxAttempts === -1 || record.attempt < maxAttempts);
  const status = retrying ? 'running' : record.status;
  const merged: CollectorReport = {
    ...entry,
    status,
    http_status:
      record.status === 'running' ? null : record.status !== 'success' && record.retryable ? 503 : 200,
    error: record.error,
    error_type: record.errorType,
    start_time: record.startTime,
    end_time: record.endTime,
    duration_seconds: record.durationSeconds,
    result: record.result,
    attempts: Math.max(entry.attempts, record.attempt),
    ...(record.reason ? { reason: record.reason } : {}),
    ...(record.manifest ? { manifest: record.manifest } : {}),
    ...partialFields(status, record.result),
    ...(record.details ?? {}),
  };
  if (status !== 'success') {
    delete merged['partial'];
    delete merged['units'];
  }
  if (retrying) merged['retrying'] = true;
  else delete merged['retrying'];
  // As in buildReport: nothing secret leaves through a report, whatever a collector put in its summary.
  return redact(merged) as CollectorReport;
}
