import type { CallerCheck } from '../auth/incoming/types';
import { execute, planExecution } from '../execution/execute';
import { parseRunRequest } from '../execution/trigger';
import { httpStatusFor } from '../report/report';
import { withRunRecords } from '../report/merge';
import { ReportStore } from '../report/report-store';
import type { Services } from '../services';
import { silentLogger, type Logger } from '../util/log';
import { audienceOf } from '../util/url';
import { checkCaller } from './caller';
import { collectorRoute } from './collector-route';
import { matchScheduleRoute, scheduleRoute } from './schedule-routes';
import { errorResponse, notFound } from './errors';
import { matchOpsRoute, opsRoute } from './ops-routes';
import { requestLogger } from './request-log';
import type { AppHandler, AppRequest, AppResponse } from './types';

export interface AppOptions {
  /**
   * Only the collector routes, which also run a disabled entry (the embedded loopback server, whose
   * `callers` check accepts only its own process).
   */
  collectorsOnly?: boolean;
  /** Who may call; by default the configured `scheduler.incoming_auth` (`services.callers`). */
  callers?: CallerCheck;
  /**
   * Where a failure to build the services (a bad config) is logged. When `hideStartupErrors` (a
   * deployed function), callers, who cannot be checked without a config, get a bare 500 and the details
   * go to this log only.
   */
  startupLogger?: Logger;
  hideStartupErrors?: boolean;
}

/**
 * The function's routes (DESIGN.md). `getServices` is called on the first request that needs them, so
 * `GET /healthz` answers before any config, store or client library is loaded. Every other route checks
 * its caller first: before a collector name, a body or a report id is even looked at.
 */
export function createApp(getServices: () => Promise<Services>, options: AppOptions = {}): AppHandler {
  return async (request) => {
    const { method, path } = request;
    if (path === '/healthz')
      return method === 'GET' || method === 'HEAD'
        ? { status: 200, body: { status: 'ok' } }
        : notAllowed('GET');
    const collectorMatch = /^\/collectors\/([^/]+)\/?$/.exec(path);
    const collectorName = collectorMatch ? decodePathPart(collectorMatch[1]!) : null;
    const isRun = path === '/' || path === '/run' || path === '/run/';
    const reportMatch = /^\/reports\/([^/]+)\/?$/.exec(path);
    const schedule = options.collectorsOnly ? null : matchScheduleRoute(path);
    const ops = options.collectorsOnly ? null : matchOpsRoute(path);
    const known =
      collectorName !== null ||
      schedule !== null ||
      ops !== null ||
      (!options.collectorsOnly && (isRun || path === '/status' || reportMatch));
    if (!known) return notFound(`no route for ${method} ${path}`);

    let services: Services;
    try {
      services = await getServices();
    } catch (error) {
      const logged = errorResponse(error, options.startupLogger ?? silentLogger, 500);
      return options.hideStartupErrors
        ? {
            status: 500,
            body: { error: { code: 'INTERNAL', message: 'the function could not start; see its logs' } },
          }
        : logged;
    }
    try {
      let caller = 'unknown';
      const refused = await checkCaller(
        options.callers ?? services.callers,
        request,
        services.logger,
        collectorName === null ? [] : collectorAudiences(services, collectorName),
        (who) => (caller = who),
      );
      if (refused) return refused;
      if (schedule) return await scheduleRoute(services, schedule, request, caller);
      if (collectorName !== null) {
        if (method !== 'POST') return notAllowed('POST');
        return await collectorRoute(services, collectorName, request, {
          includeDisabled: options.collectorsOnly === true,
        });
      }
      if (ops) return await opsRoute(services, ops, request);
      if (isRun) return method === 'POST' ? await runRoute(services, request) : notAllowed('POST');
      if (method !== 'GET') return notAllowed('GET');
      const reports = new ReportStore(services.stores.reports, services.logger);
      if (reportMatch) {
        const id = decodePathPart(reportMatch[1]!);
        const report = id === null ? null : await reports.get(id);
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
  const body =
    result.saved.error === null
      ? result.report
      : { ...result.report, report_storage_error: result.saved.error };
  return { status: httpStatusFor(result.report), body };
}

/**
 * A collector route also accepts ID tokens for the collector's own configured URL: the audience Cloud
 * Tasks' OIDC tokens (and the HTTP dispatcher's) carry when the scheduler calls it.
 */
function collectorAudiences(services: Services, name: string): string[] {
  const url = services.config.collectors.find((c) => c.name === name)?.url;
  if (!url) return [];
  try {
    return [audienceOf(url)];
  } catch {
    return [];
  }
}

/** A path segment, decoded; null when it is not valid percent-encoding (then no route matches). */
function decodePathPart(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

function notAllowed(allow: string): AppResponse {
  return {
    status: 405,
    headers: { allow },
    body: { error: { code: 'METHOD_NOT_ALLOWED', message: `use ${allow}` } },
  };
}
