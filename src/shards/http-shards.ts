import type {
  CollectorOutcome,
  Dispatcher,
  DispatchOptions,
  DispatchTarget,
  ProgressListener,
} from '../dispatch/types';
import type { Services } from '../services';
import { writeCarry } from './carry';
import { shardTarget } from './enqueue';
import { FAILURES_SHOWN, type ShardFailure } from './shard-index';
import { noCounts, shardFields, shardProgress } from './outcome';
import { pointToRun, type ShardRun } from './prepare';

/**
 * HTTP mode: every shard is a call of its own to the collector's route, through the same dispatcher and
 * concurrency slots as the execution's other collectors, until the deadline. Shards the deadline (or a
 * signal) stopped before they started carry over to the collector's next execution (carry.ts).
 */
export async function dispatchHttpShards(
  services: Pick<Services, 'stores' | 'logger'>,
  inner: Dispatcher,
  plain: readonly DispatchTarget[],
  runs: readonly ShardRun[],
  options: DispatchOptions & { onProgress: ProgressListener },
): Promise<Map<DispatchTarget, CollectorOutcome>> {
  const subs: DispatchTarget[] = [];
  const runOf: ShardRun[] = [];
  for (const run of runs) {
    for (const batch of run.batches) {
      for (const key of batch.keys) {
        subs.push(shardTarget(run.target, key, batch.scheduledTime));
        runOf.push(run);
      }
    }
  }
  const outcomes = await inner.dispatch([...plain, ...subs], {
    ...options,
    onProgress: shardProgress(options.onProgress),
  });
  const settled = new Map<DispatchTarget, CollectorOutcome>();
  plain.forEach((t, i) => settled.set(t, outcomes[i]!));
  const folds = new Map<ShardRun, Fold>(runs.map((r) => [r, newFold(r)]));
  subs.forEach((sub, i) => {
    const fold = folds.get(runOf[i]!)!;
    add(fold, sub, outcomes[plain.length + i]!, options.signal.aborted);
  });
  for (const [run, fold] of folds) {
    const outcome = finish(run, fold);
    await writeCarry(
      services.stores.state,
      run.target.name,
      run.target.payload.executionId,
      [...fold.leftover].map(([scheduledTime, keys]) => ({ scheduledTime, keys })),
      services.logger,
    );
    if (run.total > 0) await pointToRun(services, run);
    settled.set(run.target, outcome);
    options.onProgress({ type: 'finish', outcome });
  }
  return settled;
}

interface Fold {
  counts: ReturnType<typeof noCounts>;
  failures: ShardFailure[];
  /** Not started, by scheduled time. */
  leftover: Map<string, string[]>;
  carried: number;
  records: number;
  startMs: number | null;
  endMs: number | null;
  attempts: number;
  httpStatus: number | null;
}

function newFold(run: ShardRun): Fold {
  return {
    counts: noCounts(run.total),
    failures: [],
    leftover: new Map(),
    carried: 0,
    records: 0,
    startMs: null,
    endMs: null,
    attempts: 0,
    httpStatus: null,
  };
}

function add(fold: Fold, sub: DispatchTarget, o: CollectorOutcome, stopped: boolean): void {
  const shard = sub.payload.shard!;
  if (o.attempts === 0 && stopped && o.status !== 'skipped') {
    // Never sent: the deadline or a signal came first. The next execution runs it.
    const time = sub.payload.scheduledTime;
    const keys = fold.leftover.get(time);
    if (keys) keys.push(shard);
    else fold.leftover.set(time, [shard]);
    fold.carried++;
    return;
  }
  if (o.attempts > 1) fold.counts.retried++;
  fold.attempts = Math.max(fold.attempts, o.attempts);
  if (o.startMs !== null) fold.startMs = Math.min(fold.startMs ?? o.startMs, o.startMs);
  if (o.endMs !== null) fold.endMs = Math.max(fold.endMs ?? o.endMs, o.endMs);
  const records = (o.result as { records?: unknown } | null)?.records;
  if (typeof records === 'number') fold.records += records;
  switch (o.status) {
    case 'success':
      fold.counts.done++;
      break;
    case 'skipped':
      fold.counts.skipped++;
      break;
    case 'cancelled':
      fold.counts.cancelled++;
      break;
    default:
      fold.counts.failed++;
      fold.httpStatus ??= o.httpStatus;
      if (fold.failures.length < FAILURES_SHOWN)
        fold.failures.push({ shard, error: o.error, error_type: o.errorType, attempts: o.attempts });
  }
}

function finish(run: ShardRun, fold: Fold): CollectorOutcome {
  const fields = shardFields(fold.counts, fold.failures, fold.carried);
  return {
    name: run.target.name,
    status: fields.status,
    httpStatus: fields.status === 'success' ? 200 : fold.httpStatus,
    error: fields.error,
    errorType: fields.errorType,
    startMs: fold.startMs,
    endMs: fold.endMs,
    attempts: fold.attempts,
    result: { records: fold.records },
    extra: {
      ...fields.extra,
      ...(run.carried > 0 ? { shards_from_earlier: run.carried } : {}),
      ...(run.rerunOf ? { rerun_of: run.rerunOf } : {}),
    },
  };
}
