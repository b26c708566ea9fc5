import * as v from 'valibot';
import { BACKFILL_OVERLAP_POLICIES } from '../config/scheduling';
import { DISPATCH_MODES } from '../config/types';
import { RequestError } from '../errors';
import { execute, planExecution } from '../execution/execute';
import { makeTrigger } from '../execution/trigger';
import { httpStatusFor } from '../report/report';
import { PauseStore } from '../schedule/pause';
import { pauseTarget, resumeTarget } from '../schedule/pause-commands';
import type { Services } from '../services';
import { describeIssue, problemText } from '../util/issues';
import { notFound } from './errors';
import type { AppRequest, AppResponse } from './types';

/**
 * Pause, resume and backfill over HTTP (checked callers only, like every route but /healthz):
 * - `GET /pauses`: the pauses in force;
 * - `POST /pauses` `{"target": "xmp-daily" | "group:xmp-account", "reason": "...", "until"?: ISO}`:
 *   201 and the pause, `by` being the verified caller;
 * - `DELETE /pauses/TARGET`: 200 and what was resumed, 404 when it was not paused;
 * - `POST /backfills` `{"collector", "from", "to", "overlap"?, "mode"?, "dryRun"?}`: the backfill's
 *   report (200, 207, 500 like /run), or its dry run; run again, it resumes what is left.
 * Paths apart from /collectors/NAME, so that no collector name can shadow them.
 */
export type ScheduleRoute = { kind: 'pauses' } | { kind: 'pause'; target: string } | { kind: 'backfills' };

export function matchScheduleRoute(path: string): ScheduleRoute | null {
  if (path === '/pauses' || path === '/pauses/') return { kind: 'pauses' };
  if (path === '/backfills' || path === '/backfills/') return { kind: 'backfills' };
  const one = /^\/pauses\/([^/]+)\/?$/.exec(path);
  if (!one) return null;
  try {
    return { kind: 'pause', target: decodeURIComponent(one[1]!) };
  } catch {
    return null;
  }
}

const isoTime = v.pipe(
  v.string(),
  v.check(
    (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) && !Number.isNaN(Date.parse(s)),
    'must be an ISO 8601 time like 2026-11-22T14:00:00Z',
  ),
);

const pauseBody = v.strictObject({
  target: v.pipe(v.string(), v.minLength(1, 'must name a collector or group:NAME')),
  reason: v.pipe(v.string(), v.trim(), v.minLength(1, 'must say why')),
  until: v.optional(isoTime),
});

const backfillBody = v.strictObject({
  collector: v.pipe(v.string(), v.minLength(1, 'must name a collector')),
  from: isoTime,
  to: isoTime,
  overlap: v.optional(
    v.picklist(BACKFILL_OVERLAP_POLICIES, `must be one of ${BACKFILL_OVERLAP_POLICIES.join(', ')}`),
  ),
  mode: v.optional(v.picklist(DISPATCH_MODES, `must be one of ${DISPATCH_MODES.join(', ')}`)),
  dryRun: v.optional(v.boolean()),
});

export async function scheduleRoute(
  services: Services,
  route: ScheduleRoute,
  request: AppRequest,
  caller: string,
): Promise<AppResponse> {
  const { method } = request;
  if (route.kind === 'pauses') {
    if (method === 'GET') {
      const pauses = await new PauseStore(services.stores.state, () => services.clock.now()).list();
      return { status: 200, body: { pauses } };
    }
    if (method !== 'POST') return notAllowed('GET, POST');
    const body = parseBody(pauseBody, request);
    const pause = await pauseTarget(services, body.target, {
      reason: body.reason,
      by: caller,
      until: body.until ? Date.parse(body.until) : null,
    });
    return { status: 201, body: { pause } };
  }
  if (route.kind === 'pause') {
    if (method !== 'DELETE') return notAllowed('DELETE');
    const resumed = await resumeTarget(services, route.target);
    return resumed ? { status: 200, body: { resumed } } : notFound(`${route.target} is not paused`);
  }
  if (method !== 'POST') return notAllowed('POST');
  const body = parseBody(backfillBody, request);
  const trigger = makeTrigger('http', {
    mode: body.mode ?? null,
    dryRun: body.dryRun ?? false,
    backfill: {
      collector: body.collector,
      fromMs: Date.parse(body.from),
      toMs: Date.parse(body.to),
      overlap: body.overlap ?? 'buffer_all',
    },
  });
  if (trigger.dryRun) return { status: 200, body: await planExecution(services, trigger) };
  const result = await execute(services, trigger);
  const report = result.saved.stored
    ? result.report
    : { ...result.report, report_storage_error: result.saved.error };
  return { status: httpStatusFor(result.report), body: report };
}

function parseBody<S extends v.GenericSchema>(schema: S, request: AppRequest): v.InferOutput<S> {
  let input: unknown;
  try {
    input = JSON.parse(request.body?.toString('utf8') || 'null');
  } catch {
    throw new RequestError('request body is not JSON');
  }
  const allowed = Object.keys((schema as unknown as { entries: Record<string, unknown> }).entries);
  const result = v.safeParse(schema, input, { abortEarly: false });
  if (!result.success) {
    const problems = result.issues.map((i) => problemText(describeIssue(i, { allowed, noun: 'field' })));
    throw new RequestError(`invalid request body: ${problems.join('; ')}`, { details: { problems } });
  }
  return result.output;
}

function notAllowed(allow: string): AppResponse {
  return {
    status: 405,
    headers: { allow },
    body: { error: { code: 'METHOD_NOT_ALLOWED', message: `use ${allow}` } },
  };
}
