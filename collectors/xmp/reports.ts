import { PermanentError } from '../../src/runtime/errors';
import type { XmpClient } from './client';
import type { XmpOptions, XmpReport } from './options';

/** Open API endpoints (upstreams.md §5). */
export const REPORT_PATHS: Readonly<Record<XmpReport, string>> = {
  ad_report: '/v2/media/account/report',
  creative_report: '/v2/media/material_report/list',
  creative_library: '/v2/media/material/list',
};

/** A safety stop: a server that ignored `page` would otherwise be paged forever. */
export const MAX_PAGES = 10_000;

/** Every row of one report for one day (`start_date = end_date = day`). */
export async function pullReport(
  client: XmpClient,
  report: XmpReport,
  day: string,
  options: XmpOptions,
): Promise<unknown[]> {
  const path = REPORT_PATHS[report];
  const window = { start_date: day, end_date: day };
  switch (report) {
    case 'ad_report':
      // Not paged: one answer per request (identical requests are cached by XMP for 30 min).
      return rowsOf(
        await client.call(path, {
          ...window,
          metrics: options.metrics,
          dimension: options.dimensions,
          ...(options.module ? { module: options.module } : {}),
        }),
        path,
      );
    case 'creative_report':
      return paged(
        client,
        path,
        {
          ...window,
          metrics: options.creative_metrics,
          dimension: options.creative_dimensions,
          cost_currency: options.cost_currency,
        },
        options.page_size,
      );
    case 'creative_library':
      // Filtered on the creatives' creation day. The filter's field names are not in the public excerpt
      // we have; start_date/end_date follows the other two endpoints.
      return paged(client, path, window, options.page_size);
  }
}

/**
 * `page` from 1 with `page_size` rows each. XMP's documented stop is an empty `data.list`; a short page
 * is the last one too, which spares a request per report and day out of a 10-per-minute budget.
 */
async function paged(
  client: XmpClient,
  path: string,
  body: Record<string, unknown>,
  pageSize: number,
): Promise<unknown[]> {
  const rows: unknown[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const list = rowsOf(await client.call(path, { ...body, page, page_size: pageSize }), path);
    rows.push(...list);
    if (list.length < pageSize) return rows;
  }
  throw new PermanentError(
    `POST ${path}: still answering full pages after ${MAX_PAGES} pages; is "page" ignored?`,
    {},
    'UPSTREAM_INVALID',
  );
}

/** `data.list` (or a bare array in `data`); no data at all is an empty day. */
function rowsOf(data: unknown, path: string): unknown[] {
  if (data === undefined || data === null) return [];
  if (Array.isArray(data)) return data;
  const list = (data as { list?: unknown }).list;
  if (typeof data === 'object' && (list === undefined || list === null)) return [];
  if (Array.isArray(list)) return list;
  throw new PermanentError(`POST ${path} answered data without a list of rows`, {}, 'UPSTREAM_INVALID');
}
