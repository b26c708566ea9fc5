import { historyDeps, readHistory } from '../history/history';
import { parseHistoryQuery } from '../history/query';
import { withRunRecords } from '../report/merge';
import { ReportStore } from '../report/report-store';
import type { Services } from '../services';
import { notFound } from '../http/errors';
import type { AppRequest, AppResponse, OpsRoute } from '../http/types';
import { PAGE_HEADERS, renderExecutionPage, renderListPage } from './render';

/** `GET /ui` (recent executions, `?collector=&limit=` as for `GET /reports`) and `GET /ui/ID`. */
export async function uiRoute(
  services: Services,
  route: Exclude<OpsRoute, { kind: 'history' }>,
  request: AppRequest,
): Promise<AppResponse> {
  const timezone = services.config.timezone;
  if (route.kind === 'ui-list') {
    const q = request.query ?? {};
    const query = parseHistoryQuery({ collector: q['collector'], limit: q['limit'] }, services.config);
    const { entries } = await readHistory(historyDeps(services), query);
    // From `/ui` an execution is `ui/ID`; from `/ui/` it is `ID`: relative either way, so the page works
    // under the function's own path prefix.
    const base = request.path.endsWith('/') ? '' : 'ui/';
    return {
      status: 200,
      headers: { ...PAGE_HEADERS },
      body: renderListPage(entries, { timezone, links: true, base }),
    };
  }
  const stored = await new ReportStore(services.stores.reports, services.logger).get(route.id);
  if (!stored) return notFound(`no report for execution ${route.id}`);
  const report = await withRunRecords(stored, services.stores.state, services.clock.now());
  return {
    status: 200,
    headers: { ...PAGE_HEADERS },
    body: renderExecutionPage(report, { timezone, links: true }),
  };
}
