import { historyDeps, readHistory } from '../history/history';
import { parseHistoryQuery } from '../history/query';
import type { Services } from '../services';
import type { AppRequest, AppResponse } from './types';

/** `GET /reports?collector=&since=&limit=`: executions newest first, from the history index. */
export async function historyRoute(services: Services, request: AppRequest): Promise<AppResponse> {
  const q = request.query ?? {};
  const query = parseHistoryQuery(
    { collector: q['collector'], since: q['since'], limit: q['limit'] },
    services.config,
  );
  return { status: 200, body: await readHistory(historyDeps(services), query) };
}
