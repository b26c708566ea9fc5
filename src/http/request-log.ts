import type { Clock } from '../util/clock';
import type { Logger, Severity } from '../util/log';
import type { AppHandler, AppRequest, AppResponse } from './types';

/**
 * One log entry per request, written when the answer is known (rejections included), in Cloud Logging's
 * shape: `httpRequest` (method, URL, status, latency), the route it matched, the caller's e-mail when the
 * auth layer identified one, and the request's trace, so that every entry an execution writes sits under
 * its request in Logs Explorer.
 */

export interface TraceContext {
  /** `projects/P/traces/T`: what Cloud Logging's `logging.googleapis.com/trace` field expects. */
  trace: string;
  /** 16 hex digits. */
  spanId: string | null;
  sampled: boolean;
}

interface RequestState {
  caller: string | null;
  trace: TraceContext | null;
}

const states = new WeakMap<AppRequest, RequestState>();

/**
 * The hook for the auth layer: once it has verified who is calling, it records the e-mail here and the
 * request's log entry carries it (`caller`). Never a token, only the verified identity.
 */
export function noteCaller(request: AppRequest, email: string): void {
  const state = states.get(request);
  if (state) state.caller = email;
}

/** A logger whose entries carry the request's trace (the base logger itself outside a request). */
export function requestLogger(request: AppRequest, base: Logger): Logger {
  const trace = states.get(request)?.trace;
  return trace ? base.child(traceFields(trace)) : base;
}

export function traceFields(trace: TraceContext): Record<string, unknown> {
  return {
    'logging.googleapis.com/trace': trace.trace,
    ...(trace.spanId ? { 'logging.googleapis.com/spanId': trace.spanId } : {}),
    'logging.googleapis.com/trace_sampled': trace.sampled,
  };
}

/**
 * The trace of a request, from W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex flags>`) or Google's
 * `X-Cloud-Trace-Context` (`<32 hex>/<decimal span>;o=<0|1>`), the former winning. Anything malformed is
 * ignored: a header never makes us log what it says verbatim. Needs the project to name the trace.
 */
export function parseTrace(headers: AppRequest['headers'], project: string | undefined): TraceContext | null {
  if (!project) return null;
  const first = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const name = (traceId: string) => `projects/${project}/traces/${traceId}`;
  const parent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(first('traceparent')?.trim() ?? '');
  if (parent && !/^0+$/.test(parent[1]!) && !/^0+$/.test(parent[2]!)) {
    return { trace: name(parent[1]!), spanId: parent[2]!, sampled: (parseInt(parent[3]!, 16) & 1) === 1 };
  }
  const cloud = /^([0-9a-fA-F]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/.exec(
    first('x-cloud-trace-context')?.trim() ?? '',
  );
  if (cloud) {
    const span = cloud[2] ? BigInt(cloud[2]) : null;
    return {
      trace: name(cloud[1]!.toLowerCase()),
      spanId: span !== null && span > 0n && span < 2n ** 64n ? span.toString(16).padStart(16, '0') : null,
      sampled: cloud[3] === '1',
    };
  }
  return null;
}

/** The route template a path matched, so that entries group by route and never by an id. */
export function routeOf(path: string): string {
  if (path === '/' || path === '/run' || path === '/run/') return path === '/' ? '/' : '/run';
  const rules: [RegExp, string][] = [
    [/^\/healthz\/?$/, '/healthz'],
    [/^\/status\/?$/, '/status'],
    [/^\/reports\/?$/, '/reports'],
    [/^\/reports\/[^/]+\/?$/, '/reports/:id'],
    [/^\/ui\/?$/, '/ui'],
    [/^\/ui\/[^/]+\/?$/, '/ui/:id'],
    [/^\/collectors\/[^/]+\/?$/, '/collectors/:name'],
  ];
  return rules.find(([re]) => re.test(path))?.[1] ?? '(no route)';
}

export interface RequestLogOptions {
  logger: Logger;
  clock: Clock;
  /** The Google Cloud project traces belong to ($GOOGLE_CLOUD_PROJECT on the function). */
  project?: string | undefined;
}

/** `app`, with every request logged once, and its trace available to `requestLogger`. */
export function withRequestLog(app: AppHandler, options: RequestLogOptions): AppHandler {
  return async (request) => {
    const startMs = options.clock.now();
    const state: RequestState = { caller: null, trace: parseTrace(request.headers, options.project) };
    states.set(request, state);
    let response: AppResponse;
    try {
      response = await app(request);
    } catch (error) {
      logRequest(options.logger, request, 500, options.clock.now() - startMs, state);
      throw error;
    }
    logRequest(options.logger, request, response.status, options.clock.now() - startMs, state);
    return response;
  };
}

/** The one entry of a request (also used by the function's `/healthz` fast path). */
export function logRequest(
  logger: Logger,
  request: Pick<AppRequest, 'method' | 'path' | 'headers'>,
  status: number,
  latencyMs: number,
  state: { caller: string | null; trace: TraceContext | null } = { caller: null, trace: null },
): void {
  const route = routeOf(request.path);
  const severity: Severity = status >= 500 ? 'ERROR' : status >= 400 ? 'WARNING' : 'INFO';
  const agent = request.headers['user-agent'];
  const fields = {
    httpRequest: {
      requestMethod: request.method,
      // The path only: a query string may carry what a caller should not have sent.
      requestUrl: request.path.slice(0, 512),
      status,
      latency: `${(latencyMs / 1000).toFixed(3)}s`,
      ...(typeof agent === 'string' ? { userAgent: agent.slice(0, 256) } : {}),
    },
    route,
    ...(state.caller ? { caller: state.caller } : {}),
    ...(state.trace ? traceFields(state.trace) : {}),
  };
  const message = `${request.method} ${route} ${status}`;
  if (severity === 'ERROR') logger.error(message, fields);
  else if (severity === 'WARNING') logger.warn(message, fields);
  else logger.info(message, fields);
}
