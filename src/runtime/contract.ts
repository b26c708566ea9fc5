import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { SecretSource } from '../secrets/types';
import type { ObjectStore } from '../store/types';
import type { TokenBroker } from '../token/types';
import type { RawOutput } from './output';
import type { Manifest, UnitsSummary } from './manifest';

export type { Manifest, ManifestObject, UnitFailure, UnitsSummary } from './manifest';

/**
 * The plug-in contract every collector implements. A run must be idempotent for one
 * (collector, scheduledTime): running it twice writes the same objects, never duplicates.
 */
export interface Collector<O = Record<string, unknown>> {
  readonly name: string;
  readonly description: string;
  /** Turns the configured `options` into what `run` needs; throws a PermanentError when they are wrong. */
  parseOptions(raw: Readonly<Record<string, unknown>>): O;
  /**
   * Reads this collector's section of the original layout's `data_sources` into options, for the keys
   * that mean the same thing; the rest is listed as not mapped.
   */
  legacyOptions?(section: Readonly<Record<string, unknown>>): LegacyOptions;
  run(ctx: CollectorContext<O>): Promise<CollectorResult>;
  /**
   * How one run splits into shards (a commune, a year and département), each run as a run of its own
   * (its own Cloud Task, record and manifest) when the config entry says `shards: true`. Optional.
   */
  readonly shards?: ShardPlan<O>;
}

/** A collector's shards: which there are for a run, and the options each shard runs with. */
export interface ShardPlan<O> {
  /**
   * The shard keys of one run, from its options or a listing call (with the run's fetch and signal).
   * Keys match SHARD_KEY (runtime/payload.ts), are unique, and say nothing a request could abuse.
   */
  list(ctx: ShardListContext<O>): Promise<readonly string[]>;
  /**
   * The configured options narrowed to one shard: what that shard's run is given (and parses as
   * usual). Throws a PermanentError for a key these options do not cover: a key that travelled in a
   * request is checked here before anything runs.
   */
  options(raw: Readonly<Record<string, unknown>>, shard: string): Record<string, unknown>;
}

/** What listing a run's shards may use: the run's context without its output. */
export type ShardListContext<O> = Pick<
  CollectorContext<O>,
  'collector' | 'scheduledTime' | 'options' | 'state' | 'fetch' | 'clock' | 'log' | 'signal'
>;

export interface LegacyOptions {
  options: Record<string, unknown>;
  /** For each option set, the section key it came from (to name it in a config error). */
  from: Record<string, string>;
  /** Keys of the section that have no equivalent here, with why (`key: why`). */
  unmapped: { key: string; why: string }[];
}

export interface CollectorContext<O = Record<string, unknown>> {
  /** The configured job's name (e.g. xmp-daily, a job of the xmp collector). */
  readonly collector: string;
  readonly executionId: string;
  readonly scheduledTime: Date;
  readonly attempt: number;
  readonly options: O;
  /** Raw output under `<raw>/<collector>/`; every object written is listed in the run's manifest. */
  readonly output: RawOutput;
  /** The collector's own state (watermarks, cursors) under `<state>/collectors/<collector>/`. */
  readonly state: ObjectStore;
  readonly fetch: typeof fetch;
  readonly clock: Clock;
  readonly log: Logger;
  /** Aborted at the collector's timeout; pass it to every fetch and stream. */
  readonly signal: AbortSignal;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Credentials from env vars or Secret Manager; null when absent (skip with missing_credentials). */
  readonly secrets: SecretSource;
  /** Shared tokens per account (one login at a time across every process). */
  readonly tokens: TokenBroker;
  /** The shard this run is, when the run was split (its options are already narrowed to it). */
  readonly shard?: string;
}

export interface CollectorResult {
  /** Records fetched (features, rows, lines). */
  records: number;
  /** A small JSON summary for the report (what was fetched, watermarks). */
  summary?: Record<string, unknown>;
  /**
   * How the run's units of work (a département, a year, a commune, a report and day) ended. A run with
   * some failed units and some done is still `success`; the report marks it `partial`.
   */
  units?: UnitsSummary;
}

/** `cancelled`: a signal stopped the process while the collector ran (another delivery may run it). */
export const RUN_STATUSES = ['running', 'success', 'failed', 'skipped', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * What one collector run wrote and how it ended. Returned in the collector's HTTP response (`{run}`),
 * stored under `<state>/runs/<executionId>/<collector>.json`, merged into the execution report.
 */
export interface RunRecord {
  collector: string;
  executionId: string;
  scheduledTime: string;
  attempt: number;
  status: RunStatus;
  startTime: string;
  endTime: string | null;
  durationSeconds: number | null;
  error: string | null;
  errorType: string | null;
  /** For a failure: whether another attempt could succeed (the HTTP status says the same). */
  retryable: boolean;
  /** For a skip: why (e.g. missing_credentials). */
  reason: string | null;
  result: CollectorResult | null;
  manifest: Manifest | null;
  /** Anything else worth reporting (e.g. the execution holding a busy group). */
  details?: Record<string, unknown>;
  /**
   * When a `running` run should have ended (its start plus its timeout). A record still `running` well
   * past it belongs to a run whose instance stopped (a crash, a kill): readers report it timed out.
   */
  expiresAt?: string | null;
  /** The shard this run is (its record lives with the shard's, see shards/layout.ts). */
  shard?: string;
}
