import { execute, planExecution } from '../execution/execute';
import { parseRunRequest } from '../execution/trigger';
import { httpStatusFor } from '../report/report';
import { withRunRecords } from '../report/merge';
import { ReportStore } from '../report/report-store';
import type { Services } from '../services';
import { silentLogger } from '../util/log';
import { collectorRoute } from './collector-route';
import { errorResponse, notFound } from './errors';
import { matchOpsRoute, opsRoute } from './ops-routes';
import { requestLogger } from './request-log';
import type { AppHandler, AppRequest, AppResponse } from './types';

export interface AppOptions {
  /** Only the collector routes (the embedded loopback server), without their bearer check. */
  collectorsOnly?: boolean;
}

/**
 * The function's routes (DESIGN.md). `getServices` is called on the first request that needs them, so
 * `GET /healthz` answers before any config, store or client library is loaded.
 */
export function createApp(getServices: () => Promise<Services>, options: AppOptions = {}): AppHandler {
  return async (request) => {
    const { method, path } = request;
    if (path === '/healthz')
      return method === 'GET' || method === 'HEAD'
        ? { status: 200, body: { status: 'ok' } }
        : notAllowed('GET');
    const collectorMatch = /^\/collectors\/([^/]+)\/?$/.exec(path);
    const isRun = path === '/' || path === '/run' || path === '/run/';
    const reportMatch = /^\/reports\/([^/]+)\/?$/.exec(path);
    const ops = options.collectorsOnly ? null : matchOpsRoute(path);
    const known =
      collectorMatch || ops || (!options.collectorsOnly && (isRun || path === '/status' || reportMatch));
    if (!known) return notFound(`no route for ${method} ${path}`);

    let services: Services;
    try {
      services = await getServices();
    } catch (error) {
      return errorResponse(error, silentLogger);
    }
    try {
      if (collectorMatch) {
        if (method !== 'POST') return notAllowed('POST');
        return await collectorRoute(
          services,
          decodeURIComponent(collectorMatch[1]!),
          request,
          options.collectorsOnly === true,
        );
      }
      if (ops) return await opsRoute(services, ops, request);
      if (isRun) return method === 'POST' ? await runRoute(services, request) : notAllowed('POST');
      if (method !== 'GET') return notAllowed('GET');
      const reports = new ReportStore(services.stores.reports, services.logger);
      if (reportMatch) {
        const report = await reports.get(decodeURIComponent(reportMatch[1]!));
        return report
          ? { status: 200, body: await withRunRecords(report, services.stores.state, services.clock.now()) }
          : notFound(`no report for execution ${reportMatch[1]}`);
      }
      const latest = await reports.latest();
      return latest
        ? { status: 200, body: await withRunRecords(latest, services.stores.state, services.clock.now()) }
        : notFound('no execution report yet');
    } catch (error) {
      return errorResponse(error, services.logger);
    }
  };
}

async function runRoute(services: Services, request: AppRequest): Promise<AppResponse> {
  const trigger = parseRunRequest(request.body, request.headers);
  if (trigger.dryRun) return { status: 200, body: await planExecution(services, trigger) };
  // The execution's log entries carry the request's trace.
  const result = await execute({ ...services, logger: requestLogger(request, services.logger) }, trigger);
  const body = result.saved.stored
    ? result.report
    : { ...result.report, report_storage_error: result.saved.error };
  return { status: httpStatusFor(result.report), body };
}

function notAllowed(allow: string): AppResponse {
  return {
    status: 405,
    headers: { allow },
    body: { error: { code: 'METHOD_NOT_ALLOWED', message: `use ${allow}` } },
  };
}
