import type { CollectorReport } from '../report/report';
import type { ObjectStore } from '../store/types';
import { createLogger } from '../util/log';
import { redact } from '../util/secrets';
import { shardFields } from './outcome';
import { ShardIndex } from './shard-index';

/** A report entry of a sharded collector (it carries `shards` counts). */
export function hasShards(entry: CollectorReport): boolean {
  return typeof entry['shards'] === 'object' && entry['shards'] !== null;
}

const quiet = createLogger(() => undefined);

/**
 * A sharded entry as its shards stand now, from the execution's shard index (its head and stripes;
 * never the shards' run records): counts, status, the first failures. A duplicate (tasks refused as
 * repeats) shows the index of the execution that owns them. Null when there is no index.
 */
export async function withShardIndex(
  entry: CollectorReport,
  state: ObjectStore,
  executionId: string,
  collector: string,
  nowMs: number,
): Promise<CollectorReport | null> {
  const owner = typeof entry['duplicate_of'] === 'string' ? entry['duplicate_of'] : executionId;
  const maxAttempts = typeof entry['task_max_attempts'] === 'number' ? entry['task_max_attempts'] : null;
  const summary = await new ShardIndex(state, owner, collector, quiet).summary(nowMs, maxAttempts);
  if (!summary) return null;
  const fields = shardFields(summary.counts, summary.failures);
  const merged: CollectorReport = {
    ...entry,
    status: fields.status,
    error: fields.error,
    error_type: fields.errorType,
    ...fields.extra,
  };
  if (fields.extra['partial'] === undefined) delete merged['partial'];
  if (fields.extra['shard_failures'] === undefined) delete merged['shard_failures'];
  // As in buildReport: nothing secret leaves through a report.
  return redact(merged) as CollectorReport;
}
