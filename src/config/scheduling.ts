import * as v from 'valibot';

/**
 * Scheduling policies after Temporal's schedules (issue #14): per collector `catchup_window`, `overlap`,
 * `jitter_seconds`, `pause_after_failures`, with defaults under `scheduler:`, plus `scheduler.groups`
 * (a group's jitter) and `scheduler.backfill` (its limits). Kept here, beside the rest of the config, so
 * that schema.ts, normalise.ts and types.ts each gain one line.
 */

/**
 * What happens when a run of a collector is due while an earlier run of it is still going. `skip`
 * (the default) drops the new run; `buffer_one` starts it when the running one ends, keeping at most
 * one waiting; `allow` runs both. Backfills choose between `buffer_all` (one after another, the
 * default) and `allow_all` (side by side).
 */
export const OVERLAP_POLICIES = ['skip', 'buffer_one', 'allow'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];
export const BACKFILL_OVERLAP_POLICIES = ['buffer_all', 'allow_all'] as const;
export type BackfillOverlapPolicy = (typeof BACKFILL_OVERLAP_POLICIES)[number];
export type AnyOverlapPolicy = OverlapPolicy | BackfillOverlapPolicy;

export interface CollectorScheduling {
  /**
   * How far back a tick looks for this collector's missed scheduled times; null: the one scheduled
   * time before the tick, if at most a day old (one period of the cron); 0: no catch-up.
   */
  catchupWindowSeconds: number | null;
  overlap: OverlapPolicy;
  /** Upper bound of the random delay before each run (the group's own jitter comes on top). */
  jitterSeconds: number;
  groupJitterSeconds: number;
  /** Pause the collector after this many failed runs in a row; null: never. */
  pauseAfterFailures: number | null;
}

export interface BackfillLimits {
  /** The longest range a backfill may cover. */
  maxRangeDays: number;
  /** The most scheduled times one backfill may run. */
  maxRuns: number;
  /** Tasks mode, `allow_all`: the gap between two backfill tasks' schedule times. */
  spacingSeconds: number;
}

/** Documented defaults. */
export const SCHEDULING_DEFAULTS = {
  overlap: 'skip' as OverlapPolicy,
  jitterSeconds: 0,
  /** @default 7 days: a longer window risks a burst of stale runs after a long outage. */
  maxCatchupWindowSeconds: 7 * 86_400,
  backfill: { maxRangeDays: 31, maxRuns: 500, spacingSeconds: 10 } satisfies BackfillLimits,
} as const;

const DURATION = /^(\d+)\s*(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** `catchup_window`: seconds, or a number with a unit (`90m`, `6h`, `1d`); 0 turns catch-up off. */
const duration = v.pipe(
  v.union(
    [v.number(), v.pipe(v.string(), v.regex(DURATION, 'must be seconds or a duration like 30m, 6h, 1d'))],
    'must be seconds or a duration like 30m, 6h, 1d',
  ),
  v.transform((value) => {
    if (typeof value === 'number') return value;
    const [, amount, unit] = DURATION.exec(value)!;
    return Number(amount) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  }),
  v.minValue(0, 'must be zero (no catch-up) or more'),
  v.maxValue(
    SCHEDULING_DEFAULTS.maxCatchupWindowSeconds,
    `must be at most ${SCHEDULING_DEFAULTS.maxCatchupWindowSeconds / 86_400} days`,
  ),
);

const overlap = v.picklist(OVERLAP_POLICIES, `must be one of ${OVERLAP_POLICIES.join(', ')}`);
const jitter = v.pipe(
  v.number(),
  v.minValue(0, 'must be zero or more seconds'),
  v.maxValue(3600, 'must be at most 3600 seconds'),
);
const failures = v.pipe(
  v.number(),
  v.integer('must be a whole number'),
  v.minValue(1, 'must be at least 1'),
  v.maxValue(1000, 'must be at most 1000'),
);

/** Keys a collector entry and `scheduler:` (as defaults) both accept. */
export const schedulingKeys = {
  catchup_window: v.optional(duration),
  overlap: v.optional(overlap),
  jitter_seconds: v.optional(jitter),
  pause_after_failures: v.optional(failures),
};

/** Keys only `scheduler:` accepts. */
export const schedulerSchedulingKeys = {
  ...schedulingKeys,
  groups: v.optional(v.record(v.string(), v.strictObject({ jitter_seconds: v.optional(jitter) }))),
  backfill: v.optional(
    v.strictObject({
      max_range_days: v.optional(
        v.pipe(
          v.number(),
          v.minValue(1, 'must be at least 1 day'),
          v.maxValue(3660, 'must be at most 3660 days'),
        ),
      ),
      max_runs: v.optional(
        v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1), v.maxValue(100_000)),
      ),
      spacing_seconds: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(3600))),
    }),
  ),
};

type RawKeys = v.InferOutput<v.ObjectSchema<typeof schedulingKeys, undefined>>;
type RawScheduler = v.InferOutput<v.ObjectSchema<typeof schedulerSchedulingKeys, undefined>>;

/** A collector's policies: its own keys, else the scheduler's defaults. */
export function collectorScheduling(
  raw: RawKeys,
  defaults: RawScheduler,
  group: string | null,
  path: string,
  limits: { deadlineSeconds: number },
  complain: (path: string, message: string) => void,
): CollectorScheduling {
  const jitterSeconds = raw.jitter_seconds ?? defaults.jitter_seconds ?? SCHEDULING_DEFAULTS.jitterSeconds;
  const groupJitterSeconds = (group ? defaults.groups?.[group]?.jitter_seconds : undefined) ?? 0;
  if (jitterSeconds + groupJitterSeconds >= limits.deadlineSeconds) {
    complain(
      raw.jitter_seconds === undefined ? 'scheduler.jitter_seconds' : `${path}.jitter_seconds`,
      `${jitterSeconds + groupJitterSeconds} s of jitter (with the group's) leaves no time within scheduler.deadline_seconds (${limits.deadlineSeconds} s)`,
    );
  }
  return {
    catchupWindowSeconds: raw.catchup_window ?? defaults.catchup_window ?? null,
    overlap: raw.overlap ?? defaults.overlap ?? SCHEDULING_DEFAULTS.overlap,
    jitterSeconds,
    groupJitterSeconds,
    pauseAfterFailures: raw.pause_after_failures ?? defaults.pause_after_failures ?? null,
  };
}

/** `scheduler.backfill`, and `scheduler.groups` checked against the groups collectors name. */
export function backfillLimits(
  raw: RawScheduler,
  groupsInUse: ReadonlySet<string>,
  complain: (path: string, message: string) => void,
): BackfillLimits {
  for (const group of Object.keys(raw.groups ?? {})) {
    if (!groupsInUse.has(group))
      complain(
        `scheduler.groups.${group}`,
        `names no group a collector belongs to (groups: ${[...groupsInUse].join(', ') || 'none'})`,
      );
  }
  const d = SCHEDULING_DEFAULTS.backfill;
  return {
    maxRangeDays: raw.backfill?.max_range_days ?? d.maxRangeDays,
    maxRuns: raw.backfill?.max_runs ?? d.maxRuns,
    spacingSeconds: raw.backfill?.spacing_seconds ?? d.spacingSeconds,
  };
}
