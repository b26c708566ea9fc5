import { RequestError } from '../errors';
import { parsePayload } from '../runtime/payload';
import { GROUP_LEASE_HEADER, groupLeaseName, LeaseManager } from '../lease/lease';
import type { DispatchPayload } from '../runtime/payload';
import { runCollector, skipRun, type CollectorRunOutcome } from '../runtime/run-collector';
import { collectorRuntime, configuredCollector } from '../runtime/resolve';
import type { Services } from '../services';
import { fanOutDelivery, shardDelivery } from '../shards/shard-route';
import { countQueuedRun, pauseOfCollector, skipPaused } from '../schedule/route-policies';
import { underOverlapPolicy } from '../schedule/overlap';
import { withCallerSignal } from './caller-signal';
import { errorResponse } from './errors';
import { header, type AppRequest, type AppResponse } from './types';

export interface CollectorRouteOptions {
  /**
   * Also run a disabled entry: only on the embedded loopback server, whose one caller is this process's
   * own scheduler, which runs a disabled collector only when a run names it.
   */
  includeDisabled?: boolean;
}

/**
 * `POST /collectors/NAME`: runs the configured entry NAME, with the config's options, for one dispatch
 * payload, and answers its run record. A name that is not a configured, enabled collector is a 404 and
 * runs nothing; the payload carries no options (an unknown field is a 400 naming it). The caller was
 * checked before this is reached (app.ts).
 */
export async function collectorRoute(
  services: Services,
  name: string,
  request: AppRequest,
  options: CollectorRouteOptions = {},
): Promise<AppResponse> {
  const resolved = configuredCollector(services, name, options);
  if (!resolved) {
    return {
      status: 404,
      body: {
        error: {
          code: 'COLLECTOR_UNKNOWN',
          message: `no configured, enabled collector is named "${name}"; nothing was run`,
        },
      },
    };
  }
  const payload = readPayload(services, name, request);
  if ('status' in payload) return payload;
  const { collector, configured } = resolved;
  const runtime = withCallerSignal(collectorRuntime(services), request.signal);
  if (payload.fanOut) {
    const url = configured.url ?? `${await services.embedded.baseUrl()}/collectors/${name}`;
    return fanOutDelivery(services, resolved, payload, url, runtime.shutdown ?? services.shutdown);
  }
  // A shard runs with the options narrowed to it, once its key is checked (shards/shard-route.ts).
  const shard =
    payload.shard === undefined
      ? null
      : await shardDelivery(services, resolved, { ...payload, shard: payload.shard });
  if (shard && 'response' in shard) return shard.response;
  // Under Cloud Tasks a busy group is worth another delivery later (the queue's backoff), not a final
  // skip: the member whose turn it is may have outlived its dispatch deadline.
  const queued = header(request, 'x-cloudtasks-taskname') !== undefined;
  // A pause holds back deliveries already queued too (HTTP mode: the scheduler looked just before
  // sending); the overlap policy is checked as the run starts.
  const paused = queued ? await pauseOfCollector(services, configured) : null;
  if (paused) return { status: 200, body: { run: (await skipPaused(runtime, payload, paused)).record } };
  // The shards of one run run side by side by design: the overlap policy is the whole run's, settled
  // where the run was dispatched, not a lease each shard would take from its siblings.
  const run = (stop?: AbortSignal) =>
    shard
      ? shard.run(runtime, stop)
      : underOverlapPolicy({ ...runtime, leases: services.leases }, configured, payload, queued, () =>
          runCollector(
            collector,
            { ...payload, options: configured.options },
            configured.timeoutSeconds,
            runtime,
            stop,
          ),
        );
  const { record, httpStatus } = configured.group
    ? await underGroupLease(
        services,
        configured.group,
        configured.groupWaitSeconds,
        payload,
        header(request, GROUP_LEASE_HEADER),
        queued,
        run,
      )
    : await run();
  // A shard's outcome is one part of its run's: pause_after_failures counts runs, not shards.
  if (queued && !shard) await countQueuedRun(services, configured, record);
  return { status: httpStatus, body: { run: record } };
}

/** The dispatch payload of a delivery for `name`, or the 400 that names what is wrong with it. */
function readPayload(services: Services, name: string, request: AppRequest): DispatchPayload | AppResponse {
  let input: unknown;
  try {
    input = JSON.parse(request.body?.toString('utf8') || 'null');
  } catch {
    return errorResponse(
      new RequestError(
        'request body is not JSON; expected the dispatch payload {executionId, collector, scheduledTime, attempt}',
      ),
      services.logger,
    );
  }
  try {
    return withQueueAttempt(parsePayload(input, name), request);
  } catch (error) {
    return errorResponse(error, services.logger);
  }
}

/** Cloud Tasks sends the same body on every retry; its retry-count header says which attempt this is. */
function withQueueAttempt(payload: DispatchPayload, request: AppRequest): DispatchPayload {
  const retries = Number(header(request, 'x-cloudtasks-taskretrycount'));
  return Number.isInteger(retries) && retries + 1 > payload.attempt
    ? { ...payload, attempt: retries + 1 }
    : payload;
}

/**
 * A group member runs under its group's lease: the one the scheduler holds for it (HTTP mode, named in
 * a header), else one taken here (Cloud Tasks mode, where a task can also be delivered twice).
 */
async function underGroupLease(
  services: Services,
  group: string,
  waitSeconds: number,
  payload: DispatchPayload,
  presented: string | undefined,
  queued: boolean,
  run: (stop?: AbortSignal) => Promise<CollectorRunOutcome>,
): Promise<CollectorRunOutcome> {
  const name = groupLeaseName(group);
  if (presented) {
    const current = await services.leases.current(name);
    if (current?.holder === presented) {
      // Held by the scheduler, which may lose it: the run stops when it is not renewed in time.
      const watch = services.leases.watch(current, services.leases.ttlMs);
      try {
        return await run(watch.lost);
      } finally {
        watch.stop();
      }
    }
  }
  const result = await services.leases.acquire(
    name,
    LeaseManager.holderId(payload.executionId, payload.collector),
    {
      ttlMs: services.leases.ttlMs,
      waitMs: waitSeconds * 1000,
    },
  );
  if (!result.acquired) {
    const [holderExecution, holderCollector] = result.holder.holder.split('/');
    const duplicate = holderExecution === payload.executionId && holderCollector === payload.collector;
    return skipRun(
      payload.collector,
      payload,
      {
        reason: duplicate ? 'already_running' : 'group_busy',
        message: duplicate
          ? `this run of ${payload.collector} is already in progress (a duplicate delivery)`
          : `group ${group} is busy: ${holderCollector ?? 'a member'} of execution ${holderExecution} holds it (waited ${waitSeconds} s, group_wait_seconds)`,
        details: { group, holder_execution_id: holderExecution },
        retryable: queued && !duplicate,
      },
      collectorRuntime(services),
      { record: !duplicate },
    );
  }
  try {
    return await run(result.lease.lost);
  } finally {
    await result.lease.release();
  }
}
