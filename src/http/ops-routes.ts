import type { Services } from '../services';
import { historyRoute } from './history-route';
import type { AppRequest, AppResponse, OpsRoute } from './types';

/**
 * The operator's read-only routes: the history (`GET /reports`) and the report page (`GET /ui`,
 * `GET /ui/ID`). They sit behind the same incoming auth as every other route (app.ts checks the caller
 * before it calls them).
 */

export function matchOpsRoute(path: string): OpsRoute | null {
  if (path === '/reports' || path === '/reports/') return { kind: 'history' };
  if (path === '/ui' || path === '/ui/') return { kind: 'ui-list' };
  const ui = /^\/ui\/([^/]+)\/?$/.exec(path);
  if (!ui) return null;
  try {
    return { kind: 'ui-execution', id: decodeURIComponent(ui[1]!) };
  } catch {
    // Not valid percent-encoding: still this route, with an id no report has (a 400 from the store).
    return { kind: 'ui-execution', id: ui[1]! };
  }
}

export async function opsRoute(
  services: Services,
  route: OpsRoute,
  request: AppRequest,
): Promise<AppResponse> {
  if (request.method !== 'GET' && request.method !== 'HEAD')
    return {
      status: 405,
      headers: { allow: 'GET' },
      body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET' } },
    };
  switch (route.kind) {
    case 'history':
      return historyRoute(services, request);
    case 'ui-list':
    case 'ui-execution': {
      const { uiRoute } = require('../ui/ui-route') as typeof import('../ui/ui-route');
      return uiRoute(services, route, request);
    }
  }
}
