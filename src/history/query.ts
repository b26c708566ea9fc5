import { closest } from '../util/suggest';
import type { Config } from '../config/types';
import { RequestError } from '../errors';
import { DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT } from './history';
import type { HistoryQuery } from './history-index';

/** The history query's parameters as they arrive (CLI options or a URL's query string). */
export interface HistoryParams {
  collector?: string | undefined;
  since?: string | undefined;
  limit?: string | number | undefined;
}

/**
 * Validates a history query. `field` names a parameter as the caller knows it (`--limit`, `limit`), so
 * the error says which one to fix. A collector must be configured: a typo gets a suggestion rather than
 * an empty history.
 */
export function parseHistoryQuery(
  params: HistoryParams,
  config: Config,
  field: (name: string) => string = (name) => name,
): HistoryQuery {
  const query: HistoryQuery = { limit: DEFAULT_HISTORY_LIMIT };
  if (params.limit !== undefined && params.limit !== '') {
    const n = Number(params.limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_HISTORY_LIMIT)
      throw new RequestError(
        `${field('limit')}: "${String(params.limit)}" is not a whole number between 1 and ${MAX_HISTORY_LIMIT}`,
      );
    query.limit = n;
  }
  if (params.since !== undefined && params.since !== '') {
    const ms = Date.parse(params.since);
    if (!/^\d{4}-\d{2}-\d{2}/.test(params.since) || Number.isNaN(ms))
      throw new RequestError(
        `${field('since')}: "${params.since.slice(0, 40)}" is not an ISO 8601 time like 2026-11-01 or 2026-11-01T00:00:00Z`,
      );
    query.sinceMs = ms;
  }
  if (params.collector !== undefined && params.collector !== '') {
    const names = config.collectors.map((c) => c.name);
    if (!names.includes(params.collector)) {
      const hint = closest(params.collector, names);
      throw new RequestError(
        `${field('collector')}: "${params.collector.slice(0, 64)}" is not a configured collector${hint ? ` (did you mean "${hint}"?)` : ''}; configured: ${names.join(', ')}`,
        {},
        'COLLECTOR_UNKNOWN',
      );
    }
    query.collector = params.collector;
  }
  return query;
}
