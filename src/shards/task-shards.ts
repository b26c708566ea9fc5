import type {
  CollectorOutcome,
  Dispatcher,
  DispatchOptions,
  DispatchTarget,
  ProgressListener,
} from '../dispatch/types';
import type { Services } from '../services';
import { enqueueShards, type EnqueueTally } from './enqueue';
import { noCounts, shardFields, shardProgress } from './outcome';
import { pointToRun, type ShardRun } from './prepare';
import type { ShardEntry } from './shard-index';

/**
 * Up to this many shards, the scheduler creates their Cloud Tasks itself; past it, it creates one
 * fan-out task, whose delivery (POST /collectors/NAME with `fanOut`) creates them from the shard index,
 * in a function call of its own (its own timeout, retried by Cloud Tasks if it fails half-way).
 * @default 1_000
 */
export const SHARD_INLINE_LIMIT = 1_000;

/**
 * Tasks mode: one Cloud Task per shard (a short list here, a long one by a fan-out task); the shards
 * report how they end in their run records and the shard index, which a status reads.
 */
export async function dispatchTaskShards(
  services: Services,
  inner: Dispatcher,
  plain: readonly DispatchTarget[],
  runs: readonly ShardRun[],
  options: DispatchOptions & { onProgress: ProgressListener },
): Promise<Map<DispatchTarget, CollectorOutcome>> {
  const settled = new Map<DispatchTarget, CollectorOutcome>();
  const fanOuts = new Map<DispatchTarget, ShardRun>();
  const inline: ShardRun[] = [];
  for (const run of runs) {
    if (run.total > SHARD_INLINE_LIMIT) fanOuts.set(fanOutTarget(run.target), run);
    else inline.push(run);
  }
  const progress = shardProgress(options.onProgress);
  const [outcomes, tallies] = await Promise.all([
    inner.dispatch([...plain, ...fanOuts.keys()], { ...options, onProgress: progress }),
    Promise.all(
      inline.map((run) =>
        enqueueShards(
          services,
          run.target,
          run.batches.flatMap((b) => b.keys),
          { signal: options.signal, force: options.force === true, onProgress: progress },
        ),
      ),
    ),
  ]);
  plain.forEach((t, i) => settled.set(t, outcomes[i]!));
  await Promise.all(
    [...fanOuts].map(async ([target, run], i) => {
      const outcome = fannedOut(run, target, outcomes[plain.length + i]!);
      if (outcome.status === 'scheduled' && outcome.extra?.['duplicate'] !== true)
        await pointToRun(services, run);
      settled.set(run.target, outcome);
    }),
  );
  await Promise.all(
    inline.map(async (run, i) => {
      if (tallies[i]!.scheduled > 0) await pointToRun(services, run);
      settled.set(run.target, await enqueued(run, tallies[i]!));
    }),
  );
  for (const run of runs) options.onProgress({ type: 'finish', outcome: settled.get(run.target)! });
  return settled;
}

/** The one task that creates a long list's tasks. */
function fanOutTarget(target: DispatchTarget): DispatchTarget {
  return { ...target, name: `${target.name}/fan-out`, payload: { ...target.payload, fanOut: true } };
}

/** The fan-out task's outcome is the collector's: its shards are all to come (or none, if it failed). */
function fannedOut(run: ShardRun, target: DispatchTarget, o: CollectorOutcome): CollectorOutcome {
  return {
    ...o,
    name: run.target.name,
    extra: {
      ...o.extra,
      fan_out_task: o.extra?.['task_name'] ?? target.name,
      shards: { ...noCounts(run.total), pending: run.total },
      ...(run.rerunOf ? { rerun_of: run.rerunOf } : {}),
    },
  };
}

/** Shards whose task could not be created are failed in the index (a forced re-run creates them). */
async function enqueued(run: ShardRun, tally: EnqueueTally): Promise<CollectorOutcome> {
  if (tally.failed.length > 0) {
    const entry: ShardEntry = { s: 'failed', a: 0, e: tally.firstError ?? 'not created', t: 'TasksError' };
    await run.index.markMany(new Map(tally.failed.map((k) => [k, entry])));
  }
  const counts = {
    ...noCounts(run.total),
    pending: tally.scheduled + tally.duplicate,
    failed: tally.failed.length,
  };
  const none = run.total > 0 && tally.failed.length === run.total;
  // Every task refused as a repeat: the shards are those of the execution that created them.
  const duplicate = run.total > 0 && tally.duplicate === run.total;
  const fields = shardFields(
    counts,
    tally.failed.slice(0, 1).map((shard) => ({
      shard,
      error: tally.firstError,
      error_type: 'TasksError',
      attempts: 0,
    })),
  );
  return {
    name: run.target.name,
    status: run.total === 0 ? 'success' : none ? 'failed' : 'scheduled',
    httpStatus: null,
    error: tally.failed.length > 0 ? fields.error : null,
    errorType: none ? 'TasksError' : null,
    startMs: null,
    endMs: null,
    attempts: 0,
    result: null,
    extra: {
      ...tally.taskExtra,
      ...fields.extra,
      ...(tally.duplicate > 0 ? { duplicate_shards: tally.duplicate } : {}),
      ...(duplicate ? { duplicate: true, ...(run.previous ? { duplicate_of: run.previous } : {}) } : {}),
      ...(run.rerunOf ? { rerun_of: run.rerunOf } : {}),
    },
  };
}
