import type { CollectorConfig } from '../config/types';
import { errorMessage, RequestError } from '../errors';
import { errorResponse, notFound } from '../http/errors';
import type { AppResponse } from '../http/types';
import type { Collector } from '../runtime/contract';
import type { DispatchPayload } from '../runtime/payload';
import { runCollector, type CollectorRunOutcome, type CollectorRuntime } from '../runtime/run-collector';
import type { Services } from '../services';
import { isoTime } from '../util/clock';
import { enqueueShards } from './enqueue';
import { ShardIndex } from './shard-index';
import type { ShardedCollector } from './prepare';
import { queueIdFor } from '../tasks/naming';

type Resolved = { collector: Collector<unknown>; configured: CollectorConfig };

/**
 * A delivery of one shard (`shard` in the payload): refused unless the entry shards, the collector
 * owns the key (ShardPlan.options, on the config's options) and the execution's shard index lists it;
 * else its run, with the options narrowed to the shard, recorded in the index as it starts and ends.
 */
export async function shardDelivery(
  services: Services,
  { collector, configured }: Resolved,
  payload: DispatchPayload & { shard: string },
): Promise<{ response: AppResponse } | { run: RunShard }> {
  const refused = notSharded(collector, configured);
  if (refused) return { response: refused };
  let options: Record<string, unknown>;
  try {
    options = (collector as ShardedCollector).shards.options(configured.options, payload.shard);
  } catch (error) {
    return {
      response: errorResponse(
        new RequestError(
          `shard "${payload.shard}" is not one of ${configured.name}'s: ${errorMessage(error)}`,
        ),
        services.logger,
      ),
    };
  }
  const index = new ShardIndex(services.stores.state, payload.executionId, configured.name, services.logger);
  const started = services.clock.now();
  const marked = await index.mark(payload.shard, {
    s: 'running',
    a: payload.attempt,
    x: started + configured.timeoutSeconds * 1000,
  });
  if (marked === 'unknown') {
    return {
      response: notFound(
        `shard "${payload.shard}" is not a shard of ${configured.name} in execution ${payload.executionId}; nothing was run`,
      ),
    };
  }
  return {
    run: async (runtime, stop) => {
      const outcome = await runCollector(
        collector,
        { ...payload, options },
        configured.timeoutSeconds,
        runtime,
        stop,
      );
      const r = outcome.record;
      await index.mark(payload.shard, {
        s: r.status,
        a: r.attempt,
        ...(r.status !== 'success' && r.retryable ? { r: 1 as const } : {}),
        ...(r.error ? { e: r.error } : {}),
        ...(r.errorType ? { t: r.errorType } : {}),
      });
      return outcome;
    },
  };
}

export type RunShard = (runtime: CollectorRuntime, stop?: AbortSignal) => Promise<CollectorRunOutcome>;

/**
 * A fan-out delivery (`fanOut` in the payload): creates a Cloud Task for every shard of the execution's
 * index still pending, SHARD_CREATE_CONCURRENCY at a time, within this one call. Answers 503 when some
 * could not be created, so that Cloud Tasks delivers it again (tasks that exist are refused by name).
 */
export async function fanOutDelivery(
  services: Services,
  { collector, configured }: Resolved,
  payload: DispatchPayload,
  url: string,
  signal: AbortSignal,
): Promise<AppResponse> {
  const refused = notSharded(collector, configured);
  if (refused) return refused;
  const index = new ShardIndex(services.stores.state, payload.executionId, configured.name, services.logger);
  const head = await index.head();
  if (!head) {
    return notFound(
      `${configured.name} has no shard index in execution ${payload.executionId}; nothing was enqueued`,
    );
  }
  const pending = [...(await index.entries(head))].filter(([, e]) => e.s === 'pending').map(([k]) => k);
  const startedAt = isoTime(services.clock.now());
  const { fanOut: _, ...base } = payload;
  const tally = await enqueueShards(
    services,
    {
      name: configured.name,
      url,
      payload: { ...base, attempt: 1 },
      timeoutMs: configured.timeoutSeconds * 1000,
      retry: configured.retry,
      group: configured.group,
      groupWaitMs: configured.groupWaitSeconds * 1000,
      queue: queueIdFor(services.config, configured),
    },
    pending,
    { signal, force: head.forced === true },
  );
  const body = {
    fan_out: {
      collector: configured.name,
      execution_id: payload.executionId,
      started_at: startedAt,
      total: head.total,
      pending: pending.length,
      scheduled: tally.scheduled,
      duplicate: tally.duplicate,
      failed: tally.failed.length,
      ...(tally.firstError ? { first_error: tally.firstError } : {}),
    },
  };
  services.logger.info(`fan-out of ${configured.name}: ${tally.scheduled} shard tasks created`, body.fan_out);
  return { status: tally.failed.length > 0 ? 503 : 200, body };
}

function notSharded(collector: Collector<unknown>, configured: CollectorConfig): AppResponse | null {
  if (configured.shards && collector.shards) return null;
  return {
    status: 400,
    body: {
      error: {
        code: 'REQUEST_INVALID',
        message: `${configured.name} does not run in shards (collectors.${configured.name}.shards); nothing was run`,
      },
    },
  };
}
