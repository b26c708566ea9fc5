import type { CollectorOutcome } from '../../src/dispatch/types';
import { buildReport, type ExecutionReport } from '../../src/report/report';
import type { ObjectStore } from '../../src/store/types';

/** One collector's outcome, with times in seconds after `t0`. */
export function outcome(
  name: string,
  status: CollectorOutcome['status'],
  t0: number,
  startS: number | null,
  endS: number | null,
  attempts = 1,
  extra: Partial<CollectorOutcome> = {},
): CollectorOutcome {
  return {
    name,
    status,
    httpStatus: status === 'success' ? 200 : status === 'failed' ? 503 : null,
    error: null,
    errorType: null,
    startMs: startS === null ? null : t0 + startS * 1000,
    endMs: endS === null ? null : t0 + endS * 1000,
    attempts,
    result: status === 'success' ? { records: 42 } : null,
    ...extra,
  };
}

/** An execution report at `start` (ISO) with these outcomes; the id's suffix is `suffix`. */
export function reportAt(
  start: string,
  outcomes: (t0: number) => CollectorOutcome[],
  options: { suffix?: string; durationS?: number; kind?: 'tick' | 'manual'; mode?: 'http' | 'tasks' } = {},
): ExecutionReport {
  const t0 = Date.parse(start);
  const stamp = new Date(t0)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return buildReport({
    executionId: `${stamp}-${options.suffix ?? 'a1b2c3d4'}`,
    startMs: t0,
    endMs: t0 + (options.durationS ?? 30) * 1000,
    mode: options.mode ?? 'http',
    trigger: {
      source: 'cloud-scheduler',
      kind: options.kind ?? 'tick',
      scheduled_time: new Date(t0).toISOString(),
      job_name: 'scheduler-tick',
      forced: false,
    },
    outcomes: outcomes(t0),
  });
}

/** A store that records the keys read and written and the prefixes listed ("never read the reports"). */
export function countingStore(
  inner: ObjectStore,
): ObjectStore & { gets: string[]; lists: string[]; puts: string[] } {
  const gets: string[] = [];
  const lists: string[] = [];
  const puts: string[] = [];
  const wrap = (store: ObjectStore, prefix: string): ObjectStore => ({
    get location() {
      return store.location;
    },
    get: (key) => {
      gets.push(prefix + key);
      return store.get(key);
    },
    put: (key, data, options) => {
      puts.push(prefix + key);
      return store.put(key, data, options);
    },
    putStream: (key, source, options) => {
      puts.push(prefix + key);
      return store.putStream(key, source, options);
    },
    list: (p) => {
      lists.push(prefix + p);
      return store.list(p);
    },
    delete: (key, options) => store.delete(key, options),
    scope: (p) => wrap(store.scope(p), `${prefix}${p}/`),
  });
  return Object.assign(wrap(inner, ''), { gets, lists, puts });
}
