import { collectorOfKey } from '../report/report';
import pLimit from 'p-limit';
import { median } from '../schedule/plan';
import { readRunRecord } from '../runtime/run-records';
import { isExecutionId } from '../report/report-store';
import type { ExecutionReport } from '../report/report';
import type { Services } from '../services';
import { readJson, type ObjectStore } from '../store/types';
import type { Logger } from '../util/log';
import { historyEntry, type HistoryEntry, type HistoryRun } from './entry';
import { HistoryIndex, type HistoryQuery } from './history-index';

/** `--limit` and `?limit=` when not given, and the most one query may ask for. */
export const DEFAULT_HISTORY_LIMIT = 50;
export const MAX_HISTORY_LIMIT = 1000;

/** Runs still `scheduled`/`running` in the index are settled from their run records, at most this many. */
const SETTLE_LIMIT = 200;
const PENDING = new Set(['scheduled', 'running']);

export interface HistoryDeps {
  reports: ObjectStore;
  state: ObjectStore;
  logger: Logger;
  now: () => number;
}

export function historyDeps(services: Services): HistoryDeps {
  return {
    reports: services.stores.reports,
    state: services.stores.state,
    logger: services.logger,
    now: () => services.clock.now(),
  };
}

export interface CollectorRunLine {
  execution_id: string;
  start_time: string;
  trigger: string;
  run: HistoryRun;
}

export interface HistoryResult {
  entries: HistoryEntry[];
  /** With a collector filter: that collector's runs, newest first. */
  runs?: CollectorRunLine[];
  objects_read: number;
}

/**
 * Executions newest first from the history index, with runs that Cloud Tasks settled after the report
 * was written (their run records) brought up to date.
 */
export async function readHistory(deps: HistoryDeps, query: HistoryQuery): Promise<HistoryResult> {
  const index = new HistoryIndex(deps.reports, deps.logger, deps.now);
  const page = await index.query(query);
  const entries = await settle(deps.state, page.entries);
  const result: HistoryResult = { entries, objects_read: page.objectsRead };
  if (query.collector !== undefined) result.runs = collectorRuns(entries, query.collector);
  return result;
}

export function collectorRuns(entries: readonly HistoryEntry[], collector: string): CollectorRunLine[] {
  return entries.flatMap((e) => {
    const run = e.collectors[collector];
    return run ? [{ execution_id: e.execution_id, start_time: e.start_time, trigger: e.trigger, run }] : [];
  });
}

/** Median duration of each collector's successful runs among `entries` (of `only`'s, when given). */
export function medianDurations(
  entries: readonly HistoryEntry[],
  only?: ReadonlySet<string>,
): Map<string, number> {
  const runs = new Map<string, HistoryRun[]>();
  const add = (name: string, run: HistoryRun) => {
    const list = runs.get(name);
    if (list) list.push(run);
    else runs.set(name, [run]);
  };
  for (const e of entries) {
    if (only) {
      // A few collectors among thousands: look them up rather than walk every run of every execution.
      for (const name of only) {
        const run = e.collectors[name];
        if (run) add(name, run);
      }
      for (const key of Object.keys(e.collectors)) {
        if (key.includes('@') && only.has(collectorOfKey(key))) add(collectorOfKey(key), e.collectors[key]!);
      }
      continue;
    }
    for (const [key, run] of Object.entries(e.collectors)) add(collectorOfKey(key), run);
  }
  const out = new Map<string, number>();
  for (const [name, list] of runs) {
    const m = successfulMedian(list);
    if (m !== null) out.set(name, m);
  }
  return out;
}

/** The median duration of the successful runs among `runs`, or null if none succeeded. */
export function successfulMedian(runs: readonly HistoryRun[]): number | null {
  const values = runs.flatMap((r) =>
    r.status === 'success' && typeof r.duration_seconds === 'number' ? [r.duration_seconds] : [],
  );
  return median(values) ?? null;
}

async function settle(state: ObjectStore, entries: HistoryEntry[]): Promise<HistoryEntry[]> {
  const pending = entries
    .flatMap((e) => Object.entries(e.collectors).map(([name, run]) => ({ e, name, run })))
    .filter((p) => PENDING.has(p.run.status))
    .slice(0, SETTLE_LIMIT);
  if (pending.length === 0) return entries;
  const limit = pLimit(16);
  const records = await Promise.all(
    pending.map((p) => limit(() => readRunRecord(state, p.e.execution_id, p.name).catch(() => null))),
  );
  const settled = new Map<HistoryEntry, Record<string, HistoryRun>>();
  pending.forEach((p, i) => {
    const record = records[i];
    if (!record) return;
    const runs = settled.get(p.e) ?? { ...p.e.collectors };
    runs[p.name] = {
      status: record.status,
      start_time: record.startTime,
      duration_seconds: record.durationSeconds,
      attempts: Math.max(p.run.attempts, record.attempt),
      error_type: record.errorType,
    };
    settled.set(p.e, runs);
  });
  return entries.map((e) => {
    const runs = settled.get(e);
    if (!runs) return e;
    const all = Object.values(runs);
    const count = (s: string) => all.filter((r) => r.status === s).length;
    const cancelled = count('cancelled');
    return {
      ...e,
      collectors: runs,
      summary: {
        total: all.length,
        succeeded: count('success'),
        failed: count('failed'),
        skipped: count('skipped'),
        scheduled: count('scheduled'),
        running: count('running'),
        ...(cancelled > 0 ? { cancelled } : {}),
      },
    };
  });
}

/**
 * Rebuilds the index from the reports themselves (reports saved before the index existed, or lines a
 * write race gave up on). The one place that lists every report.
 */
export async function rebuildHistory(deps: HistoryDeps): Promise<{ reports: number; days: number }> {
  const keys: string[] = [];
  for await (const info of deps.reports.list('')) {
    const m = /^\d{4}\/\d{2}\/\d{2}\/([^/]+)\.json$/.exec(info.key);
    if (m && isExecutionId(m[1]!)) keys.push(info.key);
  }
  const limit = pLimit(16);
  const reports = await Promise.all(
    keys.map((k) => limit(() => readJson<ExecutionReport>(deps.reports, k).catch(() => null))),
  );
  const entries = reports.flatMap((r) => (r ? [historyEntry(r.value)] : []));
  const { days } = await new HistoryIndex(deps.reports, deps.logger, deps.now).rebuild(entries);
  return { reports: entries.length, days };
}
