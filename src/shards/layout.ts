import { compactTime } from '../runtime/output';

/**
 * Where sharded runs keep their state, in the state store:
 *
 * - `shards/<executionId>/<collector>/runs/<shard>.json`: each shard's run record (run-records.ts);
 * - `shards/<executionId>/<collector>/index/head.json`: the shard index's head, written once the
 *   execution has listed the shards: how many, in which stripes, for which scheduled time;
 * - `shards/<executionId>/<collector>/index/<NN>.json`: the index's stripes, each holding the state of
 *   the shards that hash to it (pending, running, success, failed..., attempts, the error of a failure).
 *   Every shard delivery updates its entry in its stripe by compare-and-swap, so a status reads the head
 *   and at most SHARD_STRIPES small objects, never the run records;
 * - `shards/ticks/<collector>/<scheduledTime>.json`: the execution that last sharded that run (a forced
 *   re-run of the tick reads its index and runs only the failed shards);
 * - `shards/carry/<collector>.json`: HTTP mode's shards that did not start before the deadline, run
 *   first by the collector's next execution.
 */

/**
 * Stripes per index: the index of 35,000 shards is 64 objects of ~550 entries, and concurrent shard
 * deliveries contend on 64 objects rather than one. (Cloud Storage accepts about one write per second
 * to one object; the queue's dispatch rate bounds how often a stripe is written.)
 * @default 64
 */
export const SHARD_STRIPES = 64;

export function shardPrefix(executionId: string, collector: string): string {
  return `shards/${executionId}/${collector}/`;
}

export function indexHeadKey(executionId: string, collector: string): string {
  return `${shardPrefix(executionId, collector)}index/head.json`;
}

export function indexStripeKey(executionId: string, collector: string, stripe: number): string {
  return `${shardPrefix(executionId, collector)}index/${String(stripe).padStart(2, '0')}.json`;
}

export function tickPointerKey(collector: string, scheduledTime: string): string {
  return `shards/ticks/${collector}/${compactTime(new Date(scheduledTime))}.json`;
}

export function carryKey(collector: string): string {
  return `shards/carry/${collector}.json`;
}

/** The stripe of a shard key: FNV-1a over its characters (keys are ASCII by SHARD_KEY). */
export function stripeOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SHARD_STRIPES;
}
