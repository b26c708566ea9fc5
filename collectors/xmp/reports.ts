import { PermanentError } from '../../src/runtime/errors';
import type { XmpClient } from './client';
import type { ConsoleOptions, XmpOptions, XmpReport } from './options';

/** Open API endpoints (help-xmp.mobvista.com: Ad Report, Creative Report, Creative Library pages). */
export const REPORT_PATHS: Readonly<Record<XmpReport, string>> = {
  ad_report: '/v2/media/account/report',
  creative_report: '/v2/media/material_report/list',
  creative_library: '/v2/media/material/list',
};

/** A safety stop: a server that ignored `page` would otherwise be paged forever. */
export const MAX_PAGES = 10_000;

/**
 * Every row of one report for one day (`start_date = end_date = day`) from the Open API. Every report is
 * paged (`page` from 1, `page_size` up to 1000) until a short or empty page: the ad report too, whose
 * pages public clients follow the same way, and which takes a `currency` so that totals do not mix the
 * ad accounts' own currencies (Ad Report page: "returns the currency of the advertising account on the
 * media side if not passed").
 */
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
      return paged(
        client,
        path,
        {
          ...window,
          metrics: options.metrics,
          dimension: options.dimensions,
          currency: options.currency,
          ...(options.module ? { module: options.module } : {}),
        },
        options.page_size,
      );
    case 'creative_report':
      return paged(
        client,
        path,
        {
          ...window,
          metrics: options.creative_metrics,
          dimension: options.creative_dimensions,
          // The creative report names it cost_currency, in lower case (Creative Report page).
          cost_currency: options.currency.toLowerCase(),
        },
        options.page_size,
      );
    case 'creative_library':
      // By creation date (start_date/end_date, Creative Library page) or update date (the zh v2 doc's
      // start_date_up/end_date_up).
      return paged(
        client,
        path,
        options.library_date === 'updated' ? { start_date_up: day, end_date_up: day } : window,
        options.page_size,
      );
  }
}

/**
 * The console-style API (auth: login): the ad ("summary") report of one day, in the body shape public
 * console clients send (`start_time, end_time, field, group_by, page, page_size`, plus constant fields
 * such as `level`), every name configurable because none of it is documented.
 */
export function pullConsoleReport(client: XmpClient, day: string, options: XmpOptions): Promise<unknown[]> {
  const c = options.console as ConsoleOptions;
  return paged(
    client,
    c.report_path,
    {
      ...c.body,
      [c.start_field]: day,
      [c.end_field]: day,
      [c.metrics_field]: options.metrics,
      [c.dimensions_field]: options.dimensions,
    },
    options.page_size,
  );
}

/** `page` from 1 with `page_size` rows each, until a page shorter than that (an empty one included). */
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

/** `data.list` (or a bare array in `data`, as the creative library answers); no data at all is an empty day. */
export function rowsOf(data: unknown, path: string): unknown[] {
  if (data === undefined || data === null) return [];
  if (Array.isArray(data)) return data;
  const list = (data as { list?: unknown }).list;
  if (typeof data === 'object' && (list === undefined || list === null)) return [];
  if (Array.isArray(list)) return list;
  throw new PermanentError(`POST ${path} answered data without a list of rows`, {}, 'UPSTREAM_INVALID');
}
