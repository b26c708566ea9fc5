import type { DispatchMode } from '../config/types';
import {
  safeListener,
  type CollectorOutcome,
  type Dispatcher,
  type DispatchOptions,
  type DispatchTarget,
} from '../dispatch/types';
import { errorMessage } from '../errors';
import type { Services } from '../services';
import type { ShardRun } from './prepare';

/**
 * The dispatcher of an execution whose config has sharded collectors (`shards: true`): each such
 * collector's target becomes its shards (prepare.ts lists them into the shard index), dispatched by the
 * mode's own dispatcher beside the other collectors, and folded back into one outcome per collector
 * (its `shards` counts in the report). Without sharded collectors the mode's dispatcher is returned as
 * it is: nothing here costs an execution that does not shard.
 */
export function withShards(services: Services, mode: DispatchMode, inner: Dispatcher): Dispatcher {
  if (!services.config.collectors.some((c) => c.shards)) return inner;
  return {
    dispatch: (targets, options) => dispatchWithShards(services, mode, inner, targets, options),
  };
}

async function dispatchWithShards(
  services: Services,
  mode: DispatchMode,
  inner: Dispatcher,
  targets: readonly DispatchTarget[],
  options: DispatchOptions,
): Promise<CollectorOutcome[]> {
  // Loaded by the first execution that shards: the others never need them (13 ms of start-up).
  const { prepareShards, shardedCollector } = require('./prepare') as typeof import('./prepare');
  const sharded = targets.filter((t) => shardedCollector(services, t.name) !== null);
  if (sharded.length === 0) return inner.dispatch(targets, options);
  const emit = safeListener(options.onProgress);
  const finished = new Map<DispatchTarget, CollectorOutcome>();
  const runs: ShardRun[] = [];
  const startMs = services.clock.now();
  await Promise.all(
    sharded.map(async (target) => {
      try {
        runs.push(
          await prepareShards(services, target, {
            signal: options.signal,
            force: options.force === true,
            mode,
          }),
        );
      } catch (error) {
        const outcome = listingFailed(target, error, startMs, services.clock.now());
        finished.set(target, outcome);
        emit({ type: 'finish', outcome });
      }
    }),
  );
  const plain = targets.filter((t) => !sharded.includes(t));
  const dispatchShards =
    mode === 'http'
      ? (require('./http-shards') as typeof import('./http-shards')).dispatchHttpShards
      : (require('./task-shards') as typeof import('./task-shards')).dispatchTaskShards;
  const settled = await dispatchShards(services, inner, plain, runs, { ...options, onProgress: emit });
  for (const [target, outcome] of settled) finished.set(target, outcome);
  return targets.map((t) => finished.get(t)!);
}

function listingFailed(
  target: DispatchTarget,
  error: unknown,
  startMs: number,
  endMs: number,
): CollectorOutcome {
  return {
    name: target.name,
    status: 'failed',
    httpStatus: null,
    error: errorMessage(error),
    errorType: 'ShardListingError',
    startMs,
    endMs,
    attempts: 1,
    result: null,
  };
}
