import * as v from 'valibot';
import { BACKFILL_OVERLAP_POLICIES, type BackfillOverlapPolicy } from '../config/scheduling';
import { RequestError } from '../errors';
import { describeIssue, problemText } from '../util/issues';

/**
 * What every collector receives, the same in HTTP and Cloud Tasks mode. Nothing in it says where or
 * with what to connect: the collector route runs the configured entry with the config's options, so a
 * caller can never point a collector at a host, an environment variable or a secret of its choosing.
 */
export interface DispatchPayload {
  executionId: string;
  collector: string;
  /** The tick this run belongs to; a run is idempotent for one (collector, scheduledTime). */
  scheduledTime: string;
  attempt: number;
  /** One shard of the run (a key its collector listed, checked by the collector before it runs). */
  shard?: string;
  /** Enqueue the run's shards, listed by the scheduler in the shard index (a long list; tasks mode). */
  fanOut?: true;
  /** A backfill's overlap policy (buffer_all, allow_all), instead of the collector's `overlap`. */
  overlap?: BackfillOverlapPolicy;
}

/**
 * A shard key: letters, digits, `_` and `-`, at most 64 characters. A key names a commune (`75056`), a
 * year and département (`2024-75`): it never holds a `.`, `:`, `/`, `$` or `@`, so it can be no URL, host,
 * path or `${VAR}` reference, and it is safe in a task ID and an object key. The collector then checks
 * that the key is one of its own (ShardPlan.options).
 */
export const SHARD_KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

const isoTime = v.pipe(
  v.string(),
  v.check((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 time'),
);

const payloadSchema = v.strictObject({
  executionId: v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be an execution id (letters, digits, ".", "_", "-")'),
  ),
  collector: v.pipe(v.string(), v.minLength(1, 'must not be empty')),
  scheduledTime: isoTime,
  attempt: v.optional(
    v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1, 'must be at least 1')),
    1,
  ),
  shard: v.optional(
    v.pipe(
      v.string(),
      v.regex(SHARD_KEY, 'must be a shard key (letters, digits, "_" and "-", at most 64 characters)'),
    ),
  ),
  fanOut: v.optional(v.literal(true, 'must be true when present')),
  overlap: v.optional(
    v.picklist(BACKFILL_OVERLAP_POLICIES, `must be one of ${BACKFILL_OVERLAP_POLICIES.join(', ')}`),
  ),
});

const PAYLOAD_FIELDS = Object.keys(payloadSchema.entries);

/** Validates a collector request body; every problem is named by its field. */
export function parsePayload(input: unknown, routeCollector: string): DispatchPayload {
  // valibot names the first unknown field only; a caller trying several should hear about each.
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const unknown = Object.keys(input).filter((k) => !PAYLOAD_FIELDS.includes(k));
    if (unknown.length > 0) {
      const problems = unknown.map(
        (k) =>
          `${k}: unknown field (expected only ${PAYLOAD_FIELDS.join(', ')}; a collector runs with its configured options, never a request's)`,
      );
      throw new RequestError(`malformed dispatch payload: ${problems.join('; ')}`, { details: { problems } });
    }
  }
  const result = v.safeParse(payloadSchema, input, { abortEarly: false });
  if (!result.success) {
    const problems = result.issues.map((i) =>
      problemText(describeIssue(i, { allowed: PAYLOAD_FIELDS, noun: 'field' })),
    );
    throw new RequestError(`malformed dispatch payload: ${problems.join('; ')}`, { details: { problems } });
  }
  if (result.output.shard !== undefined && result.output.fanOut) {
    throw new RequestError('malformed dispatch payload: shard and fanOut do not go together');
  }
  if (result.output.collector !== routeCollector) {
    throw new RequestError(
      `payload is for collector "${result.output.collector}" but was posted to /collectors/${routeCollector}`,
    );
  }
  const { shard, fanOut, overlap, ...payload } = result.output;
  return {
    ...payload,
    ...(shard === undefined ? {} : { shard }),
    ...(fanOut ? { fanOut } : {}),
    ...(overlap === undefined ? {} : { overlap }),
  };
}
