import { createTasksDispatcher } from '../dispatch/tasks-dispatcher';
import type { CollectorOutcome, DispatchTarget, ProgressListener } from '../dispatch/types';
import type { Services } from '../services';

/**
 * CreateTask calls in flight at once for a collector's shards. The bound; against Cloud Tasks
 * (tens of ms a call) 100 in flight create 35,000 tasks in well under a minute.
 * @default 100
 */
export const SHARD_CREATE_CONCURRENCY = 100;
/**
 * Shards handed to the Tasks dispatcher at a time: memory stays flat however many shards there are
 * (one batch's targets and outcomes), and each batch's tail costs one call's latency.
 * @default 1_000
 */
export const SHARD_CREATE_BATCH = 1_000;

/** The target of one shard: the collector's own, its payload naming the shard. */
export function shardTarget(base: DispatchTarget, shard: string, scheduledTime?: string): DispatchTarget {
  return {
    ...base,
    // Names the task (hashed with the run's time) and the progress lines: `plu/75056`.
    name: `${base.name}/${shard}`,
    payload: {
      ...base.payload,
      ...(scheduledTime === undefined ? {} : { scheduledTime }),
      shard,
    },
  };
}

export interface EnqueueTally {
  /** Tasks created now, or found created by this execution earlier (a retried fan-out). */
  scheduled: number;
  /** Refused as a repeat of another execution's task (a repeated trigger). */
  duplicate: number;
  /** Shards whose task could not be created, and the first such error. */
  failed: string[];
  firstError: string | null;
  /** A created task's queue settings, for the report (task_max_attempts, queue). */
  taskExtra: Record<string, unknown> | null;
}

type Deps = Pick<Services, 'config' | 'clock' | 'logger' | 'env' | 'auth' | 'random'>;

/**
 * One Cloud Task per shard, SHARD_CREATE_CONCURRENCY calls in flight, SHARD_CREATE_BATCH shards at a
 * time, through the Tasks dispatcher (its names, retries and duplicate handling). Task names hash the
 * shard with the run's time (and a forced run's execution id), so creating them again refuses what
 * exists. `keys` is read lazily, batch by batch.
 */
export async function enqueueShards(
  deps: Deps,
  base: DispatchTarget,
  keys: Iterable<string>,
  options: { signal: AbortSignal; force: boolean; onProgress?: ProgressListener },
): Promise<EnqueueTally> {
  const dispatcher = createTasksDispatcher(deps, { concurrency: SHARD_CREATE_CONCURRENCY });
  const tally: EnqueueTally = { scheduled: 0, duplicate: 0, failed: [], firstError: null, taskExtra: null };
  let batch: DispatchTarget[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const outcomes = await dispatcher.dispatch(batch, {
      signal: options.signal,
      force: options.force,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    outcomes.forEach((o, i) => count(tally, o, batch[i]!.payload.shard!));
    batch = [];
  };
  for (const key of keys) {
    batch.push(shardTarget(base, key));
    if (batch.length >= SHARD_CREATE_BATCH) await flush();
  }
  await flush();
  return tally;
}

function count(tally: EnqueueTally, outcome: CollectorOutcome, shard: string): void {
  if (outcome.status !== 'scheduled') {
    tally.failed.push(shard);
    tally.firstError ??= outcome.error;
    return;
  }
  if (outcome.extra?.['duplicate'] === true) tally.duplicate++;
  else tally.scheduled++;
  if (!tally.taskExtra && outcome.extra) {
    const { queue, task_max_attempts, dispatch_deadline_seconds } = outcome.extra;
    tally.taskExtra = { queue, task_max_attempts, dispatch_deadline_seconds };
  }
}
