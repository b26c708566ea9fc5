import type { CollectorConfig, DispatchMode } from '../config/types';
import type { DispatchTarget } from '../dispatch/types';
import { errorMessage, SchedulerError } from '../errors';
import type { Collector, ShardPlan } from '../runtime/contract';
import { SHARD_KEY } from '../runtime/payload';
import type { Services } from '../services';
import { putJson, readJson } from '../store/types';
import { untilAborted } from '../util/abort';
import { isoTime, timeoutSignal } from '../util/clock';
import { eitherSignal } from '../util/cancel';
import { readCarry, type CarryBatch } from './carry';
import { tickPointerKey } from './layout';
import { effectiveState, ShardIndex } from './shard-index';

/** A sharded collector in one execution: its shards, by the scheduled time each runs for. */
export interface ShardRun {
  target: DispatchTarget;
  index: ShardIndex;
  /** Shards carried over from an earlier deadline first (HTTP mode), then this run's own. */
  batches: CarryBatch[];
  total: number;
  carried: number;
  /** A forced re-run: the execution whose failed shards these are (null: all listed shards). */
  rerunOf: string | null;
  /** The execution that sharded this (collector, scheduled time) before, if any. */
  previous: string | null;
}

type Deps = Pick<Services, 'config' | 'registry' | 'stores' | 'fetch' | 'clock' | 'logger'>;

/** A collector implementation that splits its runs. */
export type ShardedCollector = Collector<unknown> & { shards: ShardPlan<unknown> };

/** The sharded implementation behind a target's config entry, or null when it does not shard. */
export function shardedCollector(
  services: Pick<Services, 'config' | 'registry'>,
  name: string,
): { collector: ShardedCollector; configured: CollectorConfig } | null {
  const configured = services.config.collectors.find((c) => c.name === name);
  const collector = configured?.shards ? services.registry.get(configured.implementation) : undefined;
  return configured && collector?.shards ? { collector: collector as ShardedCollector, configured } : null;
}

/**
 * The shards one execution runs for a sharded collector, written to its shard index before any is
 * dispatched: every shard its collector lists (from its options or a listing call, within the
 * collector's timeout and the execution's deadline); for a forced re-run of a tick, only the shards
 * that failed in the tick's last sharded execution; in HTTP mode, first the shards an earlier
 * execution carried over past its deadline. Throws when the listing fails (the collector's outcome).
 */
export async function prepareShards(
  services: Deps,
  target: DispatchTarget,
  { signal, force, mode }: { signal: AbortSignal; force: boolean; mode: DispatchMode },
): Promise<ShardRun> {
  const { collector, configured } = shardedCollector(services, target.name)!;
  const { executionId, scheduledTime } = target.payload;
  const state = services.stores.state;
  const log = services.logger.child({ collector: target.name, executionId });
  let batches: CarryBatch[];
  let rerunOf: string | null = null;
  let carried = 0;
  const pointer = await readJson<{ executionId: string }>(state, tickPointerKey(target.name, scheduledTime));
  const previous = pointer?.value.executionId ?? null;
  const failed = force && previous ? await failedShards(services, target.name, previous) : null;
  if (failed) {
    rerunOf = previous;
    batches = [{ scheduledTime, keys: failed }];
  } else {
    const listed = await listShards(services, collector, configured.options, target, signal);
    const carry = mode === 'http' && !force ? await readCarry(state, target.name) : [];
    const taken = new Set(carry.flatMap((b) => b.keys));
    carried = taken.size;
    batches = [...carry, { scheduledTime, keys: listed.filter((k) => !taken.has(k)) }];
  }
  const index = new ShardIndex(state, executionId, target.name, log);
  const keys = batches.flatMap((b) => b.keys);
  await index.create(keys, {
    scheduledTime,
    createdAt: isoTime(services.clock.now()),
    ...(rerunOf ? { rerunOf } : {}),
    ...(carried ? { carried } : {}),
    ...(force ? { forced: true as const } : {}),
  });
  log.info(`${keys.length} shards${rerunOf ? ` (the failed ones of ${rerunOf})` : ''}`, { carried });
  return { target, index, batches, total: keys.length, carried, rerunOf, previous };
}

/**
 * Records that this execution sharded its (collector, scheduled time): a forced re-run of the tick
 * reads its index. Called once some shard was dispatched (a repeated trigger's refused tasks leave the
 * pointer on the execution that owns them).
 */
export async function pointToRun(
  services: Pick<Services, 'stores' | 'logger'>,
  run: ShardRun,
): Promise<void> {
  const { executionId, scheduledTime } = run.target.payload;
  await putJson(services.stores.state, tickPointerKey(run.target.name, scheduledTime), { executionId }).catch(
    (error: unknown) =>
      services.logger.warn(`shard pointer of ${run.target.name} not written: ${errorMessage(error)}`, {
        executionId,
      }),
  );
}

/** The collector's listing, within its timeout and the execution's deadline; keys checked. */
async function listShards(
  services: Deps,
  collector: ShardedCollector,
  raw: Readonly<Record<string, unknown>>,
  target: DispatchTarget,
  signal: AbortSignal,
): Promise<string[]> {
  const timeout = timeoutSignal(
    services.clock,
    target.timeoutMs,
    new SchedulerError('COLLECTOR_TIMEOUT', `${target.name}: its shards were not listed within its timeout`),
  );
  try {
    const listing = collector.shards.list({
      collector: target.name,
      scheduledTime: new Date(target.payload.scheduledTime),
      options: collector.parseOptions(raw),
      state: services.stores.state.scope(`collectors/${target.name}`),
      fetch: services.fetch,
      clock: services.clock,
      log: services.logger.child({ collector: target.name }),
      signal: eitherSignal(signal, timeout.signal),
    });
    const keys = await untilAborted(listing, eitherSignal(signal, timeout.signal));
    const bad = keys.find((k) => !SHARD_KEY.test(k));
    if (bad !== undefined)
      throw new SchedulerError(
        'COLLECTOR_FAILED',
        `${target.name} listed "${bad}", which is not a shard key`,
      );
    return [...new Set(keys)];
  } catch (error) {
    throw new SchedulerError(
      'COLLECTOR_FAILED',
      `${target.name}: its shards could not be listed: ${errorMessage(error)}`,
      { cause: error },
    );
  } finally {
    timeout.clear();
  }
}

/** The shards of an execution's index that failed for good (or died running). */
async function failedShards(
  services: Deps,
  collector: string,
  executionId: string,
): Promise<string[] | null> {
  const index = new ShardIndex(services.stores.state, executionId, collector, services.logger);
  const head = await index.head();
  if (!head) return null;
  const now = services.clock.now();
  const failed: string[] = [];
  for (const [key, entry] of await index.entries(head)) {
    // No attempt is left to come (a re-run is asked for): a retryable failure counts as failed.
    const s = effectiveState(entry, now, null);
    if (s === 'failed' || s === 'cancelled') failed.push(key);
  }
  return failed;
}
