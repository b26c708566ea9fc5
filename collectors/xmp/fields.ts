import { closest } from '../../src/util/suggest';
import { errorMessage } from '../../src/errors';
import { PermanentError } from '../../src/runtime/errors';
import { putJson, readJson, type ObjectStore } from '../../src/store/types';
import type { Clock } from '../../src/util/clock';
import type { Logger } from '../../src/util/log';
import type { XmpClient } from './client';

/**
 * Metric names are checked against XMP's own list rather than guessed: `POST /v1/media/report/fields`
 * with `report_type` `ad` or `material` answers `data.fields[]` of `{field, title, source}` (public
 * clients call it so; the Creative Report page says its metrics come from "the Query Available Metrics
 * API"). The list is fetched once per account and day, kept in the job's state and in this process.
 */
export const FIELDS_PATH = '/v1/media/report/fields';

export type FieldsReportType = 'ad' | 'material';

interface FieldsRecord {
  day: string;
  reportType: FieldsReportType;
  fields: string[];
}

const memo = new WeakMap<Clock, Map<string, Promise<string[] | null>>>();

export interface FieldsDeps {
  client: XmpClient;
  state: ObjectStore;
  clock: Clock;
  log: Logger;
  signal: AbortSignal;
  account: string;
}

/** The metric names XMP offers for a report type, or null when the list could not be had (not checked then). */
export function availableMetrics(deps: FieldsDeps, reportType: FieldsReportType): Promise<string[] | null> {
  const day = new Date(deps.clock.now()).toISOString().slice(0, 10);
  const key = `${deps.account}/${day}/${reportType}`;
  let byKey = memo.get(deps.clock);
  if (!byKey) memo.set(deps.clock, (byKey = new Map()));
  let pending = byKey.get(key);
  if (!pending) {
    pending = fetchFields(deps, day, reportType);
    byKey.set(key, pending);
    // A failed look is not remembered: the next run tries again.
    pending.then((fields) => fields === null && byKey!.delete(key)).catch(() => byKey!.delete(key));
  }
  return pending;
}

async function fetchFields(
  deps: FieldsDeps,
  day: string,
  reportType: FieldsReportType,
): Promise<string[] | null> {
  const stateKey = `fields/${deps.account}/${reportType}.json`;
  const stored = (await readJson<FieldsRecord>(deps.state, stateKey).catch(() => null))?.value;
  if (stored?.day === day && Array.isArray(stored.fields)) return stored.fields;
  try {
    const data = await deps.client.call(FIELDS_PATH, { report_type: reportType });
    const list = Array.isArray(data) ? data : (data as { fields?: unknown } | null)?.fields;
    if (!Array.isArray(list)) throw new Error(`${FIELDS_PATH} answered no fields list`);
    const fields = list
      .map((f) => (typeof f === 'string' ? f : (f as { field?: unknown } | null)?.field))
      .filter((f): f is string => typeof f === 'string');
    await putJson(deps.state, stateKey, { day, reportType, fields } satisfies FieldsRecord);
    return fields;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (deps.signal.aborted || code === 'TOKEN_REFUSED' || code === 'TOKEN_LOGIN_FAILED') throw error;
    deps.log.warn(`could not read XMP's metric list (${reportType}); pulling without checking metric names`, {
      error: errorMessage(error),
    });
    return null;
  }
}

/** The error for configured metrics XMP does not offer, naming them (and what was probably meant). */
export function unknownMetricsError(
  option: 'metrics' | 'creative_metrics',
  reportType: FieldsReportType,
  configured: readonly string[],
  available: readonly string[],
): PermanentError | null {
  const unknown = configured.filter((m) => !available.includes(m));
  if (unknown.length === 0) return null;
  const named = unknown
    .map((m) => {
      const s = closest(m, available);
      return `"${m}"${s ? ` (did you mean "${s}"?)` : ''}`;
    })
    .join(', ');
  return new PermanentError(
    `options.${option}: ${named} ${unknown.length === 1 ? 'is not a metric' : 'are not metrics'} XMP offers for report_type ${reportType} (${FIELDS_PATH})`,
    { details: { unknownMetrics: unknown } },
  );
}
