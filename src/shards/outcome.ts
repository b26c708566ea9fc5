import type { CollectorOutcome, CollectorStatus, ProgressListener } from '../dispatch/types';
import type { ShardCounts, ShardFailure } from './shard-index';

/**
 * A sharded collector's status from its shards' counts: running while any is to come; failed when
 * none ended well and some failed; else success, `partial` when some failed (or were carried over).
 */
export function statusOfShards(
  counts: ShardCounts,
  carriedOver = 0,
): { status: CollectorStatus; partial: boolean } {
  if (counts.running + counts.pending > 0) return { status: 'running', partial: false };
  const good = counts.done + counts.skipped;
  const bad = counts.failed + counts.cancelled;
  if (good === 0 && bad > 0) {
    return { status: counts.failed === 0 ? 'cancelled' : 'failed', partial: false };
  }
  if (good === 0 && carriedOver > 0) return { status: 'failed', partial: false };
  return { status: 'success', partial: bad + carriedOver > 0 };
}

/** What a report entry says of the shards: the counts, the first failures, and why it failed. */
export function shardFields(
  counts: ShardCounts,
  failures: readonly ShardFailure[],
  carriedOver = 0,
): Pick<CollectorOutcome, 'status' | 'error' | 'errorType'> & { extra: Record<string, unknown> } {
  const { status, partial } = statusOfShards(counts, carriedOver);
  const first = failures[0];
  const why =
    counts.failed + counts.cancelled > 0
      ? `${counts.failed + counts.cancelled} of ${counts.total} shards failed${first ? ` (first: ${first.shard}: ${first.error ?? 'no error recorded'})` : ''}`
      : carriedOver > 0
        ? `no shard ended before the deadline; ${carriedOver} carried over to the next tick`
        : null;
  const bad = status === 'failed' || status === 'cancelled';
  return {
    status,
    error: bad || partial ? why : null,
    errorType: bad ? (first?.error_type ?? (carriedOver > 0 ? 'Timeout' : null)) : null,
    extra: {
      shards: { ...counts, ...(carriedOver > 0 ? { carried_over: carriedOver } : {}) },
      ...(failures.length > 0 ? { shard_failures: failures } : {}),
      ...(partial ? { partial: true } : {}),
    },
  };
}

/** An empty tally of shard counts. */
export function noCounts(total = 0): ShardCounts {
  return { total, done: 0, failed: 0, running: 0, pending: 0, retried: 0, skipped: 0, cancelled: 0 };
}

/** Progress of the inner dispatcher: starts and retries as they are; a shard's own finish is kept back. */
export function shardProgress(emit: ProgressListener): ProgressListener {
  return (event) => {
    // Shard targets are named `collector/shard` (collector names hold no "/").
    if (event.type === 'finish' && event.outcome.name.includes('/')) return;
    emit(event);
  };
}
