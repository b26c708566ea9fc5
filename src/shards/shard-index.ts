import pLimit from 'p-limit';
import { RUN_STATUSES } from '../runtime/contract';
import { isPreconditionFailed, type ObjectStore } from '../store/types';
import type { Logger } from '../util/log';
import { indexHeadKey, indexStripeKey, stripeOf } from './layout';

/** A shard not started yet, or a run's status. */
export const SHARD_STATES = ['pending', ...RUN_STATUSES] as const;
export type ShardState = (typeof SHARD_STATES)[number];

/** One shard in its stripe, in few bytes: 35,000 of them are read for one status. */
export interface ShardEntry {
  s: ShardState;
  /** The attempt last recorded. */
  a?: number;
  /** While running: when the run should have ended (ms); past it (and a grace) it is taken as dead. */
  x?: number;
  /** A failure another attempt may fix. */
  r?: 1;
  /** A failure's error (cut short) and type. */
  e?: string;
  t?: string;
}

export interface IndexHead {
  collector: string;
  executionId: string;
  scheduledTime: string;
  total: number;
  /** The stripes holding shards (the others do not exist). */
  stripes: number[];
  createdAt: string;
  /** A forced re-run's index holds the failed shards of this execution's. */
  rerunOf?: string;
  /** Created by a forced run: its shards' Cloud Tasks are its own (named with its execution id). */
  forced?: true;
  /** Shards carried over from an earlier execution's deadline (HTTP mode). */
  carried?: number;
}

export interface ShardFailure {
  shard: string;
  error: string | null;
  error_type: string | null;
  attempts: number;
}

/** What a report shows of a collector's shards. */
export interface ShardCounts {
  total: number;
  done: number;
  failed: number;
  running: number;
  pending: number;
  /** Shards that took more than one attempt, whatever their end. */
  retried: number;
  skipped: number;
  cancelled: number;
}

export interface ShardSummary {
  counts: ShardCounts;
  /** The first failures (FAILURES_SHOWN), for the report. */
  failures: ShardFailure[];
  /** Index objects read (the head and the stripes): what a status costs. */
  objectsRead: number;
}

interface Stripe {
  shards: Record<string, ShardEntry>;
}

/** Stripes read or written at once. @default 16 */
const IO_CONCURRENCY = 16;
/** Compare-and-swap tries on one stripe before an update is given up (and logged). @default 25 */
const MARK_ATTEMPTS = 25;
/** A failure's error is cut to this many characters in the index (the run record has it whole). */
const ERROR_CHARS = 300;
/** Failures listed in a report. @default 20 */
export const FAILURES_SHOWN = 20;
/** A `running` shard this long past its expiry is taken for one whose instance stopped. */
const DEAD_GRACE_MS = 60_000;

/**
 * The index of one collector's shards in one execution (layout.ts): created when the shards are listed,
 * updated by each shard's delivery (running, then its end), read for a status. A shard key absent from
 * the index is not a shard of that execution: its delivery is refused.
 */
export class ShardIndex {
  constructor(
    private readonly state: ObjectStore,
    readonly executionId: string,
    readonly collector: string,
    private readonly log: Logger,
  ) {}

  /** Writes every shard as pending, stripe by stripe, then the head. */
  async create(
    keys: readonly string[],
    meta: Pick<IndexHead, 'scheduledTime' | 'createdAt' | 'rerunOf' | 'carried' | 'forced'>,
  ): Promise<IndexHead> {
    const stripes = new Map<number, Stripe>();
    for (const key of keys) {
      const stripe = stripeOf(key);
      let object = stripes.get(stripe);
      if (!object) stripes.set(stripe, (object = { shards: {} }));
      object.shards[key] = { s: 'pending' };
    }
    const limit = pLimit(IO_CONCURRENCY);
    await Promise.all(
      [...stripes].map(([stripe, object]) =>
        limit(() => this.state.put(this.stripeKey(stripe), JSON.stringify(object), JSON_TYPE)),
      ),
    );
    const head: IndexHead = {
      collector: this.collector,
      executionId: this.executionId,
      scheduledTime: meta.scheduledTime,
      total: keys.length,
      stripes: [...stripes.keys()].sort((a, b) => a - b),
      createdAt: meta.createdAt,
      ...(meta.rerunOf ? { rerunOf: meta.rerunOf } : {}),
      ...(meta.carried ? { carried: meta.carried } : {}),
      ...(meta.forced ? { forced: true as const } : {}),
    };
    await this.state.put(indexHeadKey(this.executionId, this.collector), JSON.stringify(head), JSON_TYPE);
    return head;
  }

  async head(): Promise<IndexHead | null> {
    const object = await this.state.get(indexHeadKey(this.executionId, this.collector));
    return object ? (JSON.parse(object.data.toString('utf8')) as IndexHead) : null;
  }

  /**
   * Records a shard's state. `unknown`: the key is not in this index (no such shard in this execution).
   * `stale`: a later attempt of the shard recorded itself already, and stays.
   */
  async mark(key: string, entry: ShardEntry): Promise<'marked' | 'unknown' | 'stale'> {
    const objectKey = this.stripeKey(stripeOf(key));
    const next: ShardEntry = entry.e ? { ...entry, e: entry.e.slice(0, ERROR_CHARS) } : entry;
    for (let attempt = 1; attempt <= MARK_ATTEMPTS; attempt++) {
      const current = await this.state.get(objectKey);
      const stripe = current ? parseStripe(current.data) : null;
      const before = stripe?.shards[key];
      if (!stripe || !before) return 'unknown';
      if ((before.a ?? 0) > (next.a ?? 0)) return 'stale';
      stripe.shards[key] = next;
      try {
        await this.state.put(objectKey, JSON.stringify(stripe), {
          ...JSON_TYPE,
          ifGenerationMatch: current!.generation,
        });
        return 'marked';
      } catch (error) {
        if (!isPreconditionFailed(error)) throw error;
      }
    }
    this.log.error(
      `shard ${key}: its state was not recorded in the shard index (${MARK_ATTEMPTS} writers won)`,
      {
        collector: this.collector,
        executionId: this.executionId,
        shard: key,
        entry: next,
      },
    );
    return 'stale';
  }

  /** Records several shards' states, one compare-and-swap per stripe (creations that failed). */
  async markMany(entries: ReadonlyMap<string, ShardEntry>): Promise<void> {
    const byStripe = new Map<number, [string, ShardEntry][]>();
    for (const [key, entry] of entries) {
      const stripe = stripeOf(key);
      byStripe.set(stripe, [...(byStripe.get(stripe) ?? []), [key, entry]]);
    }
    const limit = pLimit(IO_CONCURRENCY);
    await Promise.all(
      [...byStripe].map(([stripe, list]) =>
        limit(async () => {
          for (let attempt = 1; attempt <= MARK_ATTEMPTS; attempt++) {
            const current = await this.state.get(this.stripeKey(stripe));
            const object = current ? parseStripe(current.data) : null;
            if (!object) return;
            for (const [key, entry] of list) if (object.shards[key]) object.shards[key] = entry;
            try {
              await this.state.put(this.stripeKey(stripe), JSON.stringify(object), {
                ...JSON_TYPE,
                ifGenerationMatch: current!.generation,
              });
              return;
            } catch (error) {
              if (!isPreconditionFailed(error)) throw error;
            }
          }
        }),
      ),
    );
  }

  /** Every shard with its entry, stripe by stripe (at most SHARD_STRIPES reads). */
  async entries(head: IndexHead): Promise<Map<string, ShardEntry>> {
    const limit = pLimit(IO_CONCURRENCY);
    const stripes = await Promise.all(
      head.stripes.map((stripe) => limit(() => this.state.get(this.stripeKey(stripe)))),
    );
    const out = new Map<string, ShardEntry>();
    for (const object of stripes) {
      const stripe = object ? parseStripe(object.data) : null;
      for (const [key, entry] of Object.entries(stripe?.shards ?? {})) out.set(key, entry);
    }
    return out;
  }

  /**
   * The counts and first failures, from the head and the stripes. A failure another attempt may fix
   * counts as running while the queue has attempts left (`maxAttempts`, -1 unlimited; null: none).
   */
  async summary(nowMs: number, maxAttempts: number | null): Promise<ShardSummary | null> {
    const head = await this.head();
    if (!head) return null;
    const entries = await this.entries(head);
    return { ...summarise(entries, nowMs, maxAttempts), objectsRead: 1 + head.stripes.length };
  }

  private stripeKey(stripe: number): string {
    return indexStripeKey(this.executionId, this.collector, stripe);
  }
}

/** How each entry counts (see ShardIndex.summary). */
export function summarise(
  entries: ReadonlyMap<string, ShardEntry>,
  nowMs: number,
  maxAttempts: number | null,
): Omit<ShardSummary, 'objectsRead'> {
  const counts: ShardCounts = {
    total: entries.size,
    done: 0,
    failed: 0,
    running: 0,
    pending: 0,
    retried: 0,
    skipped: 0,
    cancelled: 0,
  };
  const failures: ShardFailure[] = [];
  for (const [shard, entry] of entries) {
    const attempts = entry.a ?? 0;
    if (attempts > 1) counts.retried++;
    switch (effectiveState(entry, nowMs, maxAttempts)) {
      case 'pending':
        counts.pending++;
        break;
      case 'running':
        counts.running++;
        break;
      case 'success':
        counts.done++;
        break;
      case 'skipped':
        counts.skipped++;
        break;
      case 'cancelled':
        counts.cancelled++;
        break;
      case 'failed':
        counts.failed++;
        if (failures.length < FAILURES_SHOWN)
          failures.push({
            shard,
            error:
              entry.e ?? (entry.s === 'running' ? 'its instance stopped before it recorded an end' : null),
            error_type: entry.t ?? (entry.s === 'running' ? 'Timeout' : null),
            attempts,
          });
    }
  }
  return { counts, failures };
}

/** Dead runs are failures; a retryable failure with attempts left is still running. */
export function effectiveState(entry: ShardEntry, nowMs: number, maxAttempts: number | null): ShardState {
  if (entry.s === 'running' && entry.x !== undefined && nowMs > entry.x + DEAD_GRACE_MS) return 'failed';
  if (
    (entry.s === 'failed' || entry.s === 'cancelled') &&
    entry.r === 1 &&
    maxAttempts !== null &&
    (maxAttempts === -1 || (entry.a ?? 1) < maxAttempts)
  )
    return 'running';
  return entry.s;
}

function parseStripe(data: Buffer): Stripe | null {
  try {
    const value = JSON.parse(data.toString('utf8')) as Partial<Stripe> | null;
    return value?.shards && typeof value.shards === 'object' ? (value as Stripe) : null;
  } catch {
    return null;
  }
}

const JSON_TYPE = { contentType: 'application/json' } as const;
