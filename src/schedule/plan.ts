import type { CollectorConfig, Config } from '../config/types';
import { compileSchedule } from './cron';

export interface PlannedRun {
  collector: string;
  startMs: number;
  endMs: number;
}

export interface PlannedCollector {
  name: string;
  group: string | null;
  schedule: string;
  /** Expected run time: the median of recent reports, else the timeout. */
  expectedSeconds: number;
  durationSource: 'history' | 'timeout';
  runs: PlannedRun[];
}

/** Two runs of one group's members (or of one collector with itself) at the same time. */
export interface Overlap {
  group: string;
  first: PlannedRun;
  second: PlannedRun;
  overlapSeconds: number;
}

export interface Plan {
  fromMs: number;
  /** The end of the window: the one asked for, or earlier when the plan was cut short. */
  toMs: number;
  timezone: string;
  collectors: PlannedCollector[];
  overlaps: Overlap[];
  /** The window asked for ended later: planning stopped at a day's end past PLAN_RUN_LIMIT runs. */
  cutShort: boolean;
  /** True when there were more overlaps than OVERLAP_LIMIT; `overlaps` holds the first ones. */
  moreOverlaps: boolean;
}

/**
 * The most overlaps one plan lists (a per-minute member with a one-hour timeout meets itself 59 times
 * an hour). @default 1_000
 */
export const OVERLAP_LIMIT = 1_000;

/**
 * Past this many runs, all collectors together, a plan stops at the end of the day it is in (a month
 * of per-minute crons would take seconds of CPU and show nothing a day does not).
 * @default 10_000
 */
export const PLAN_RUN_LIMIT = 10_000;

const DAY_MS = 86_400_000;

/** Expected durations in seconds by collector (from reports); missing ones fall back to the timeout. */
export type Durations = ReadonlyMap<string, number>;

/** The runs of every enabled, scheduled collector in [from, from + hours), and the group overlaps. */
export function buildPlan(
  config: Config,
  fromMs: number,
  hours: number,
  durations: Durations,
  runLimit: number = PLAN_RUN_LIMIT,
): Plan {
  const askedTo = fromMs + hours * 3_600_000;
  const enabled = config.collectors.filter((c) => c.enabled && c.schedule !== null);
  const schedules = enabled.map((c) => compileSchedule(c.schedule!, config.timezone));
  const starts: number[][] = enabled.map(() => []);
  let total = 0;
  let toMs = askedTo;
  // Day by day, so that a cut leaves every collector planned over the same window.
  for (let day = fromMs; day < askedTo; day += DAY_MS) {
    const dayEnd = Math.min(day + DAY_MS, askedTo);
    enabled.forEach((c, i) => {
      // Runs that started before the window but are still going count too.
      const from = day === fromMs ? fromMs - expectedSeconds(c, durations) * 1000 : day;
      const runs = schedules[i]!.runsBetween(from, dayEnd);
      starts[i]!.push(...runs);
      total += runs.length;
    });
    if (total >= runLimit && dayEnd < askedTo) {
      toMs = dayEnd;
      break;
    }
  }
  const collectors = enabled.map((c, i) => plannedRuns(c, c.schedule!, starts[i]!, durations));
  const overlaps = findOverlaps(collectors, OVERLAP_LIMIT + 1);
  const moreOverlaps = overlaps.length > OVERLAP_LIMIT;
  if (moreOverlaps) overlaps.length = OVERLAP_LIMIT;
  return {
    fromMs,
    toMs,
    timezone: config.timezone,
    collectors,
    overlaps,
    cutShort: toMs < askedTo,
    moreOverlaps,
  };
}

export function planCollector(
  c: CollectorConfig,
  schedule: string,
  timezone: string,
  fromMs: number,
  toMs: number,
  durations: Durations,
): PlannedCollector {
  // Runs that started before the window but are still going count too.
  const starts = compileSchedule(schedule, timezone).runsBetween(
    fromMs - expectedSeconds(c, durations) * 1000,
    toMs,
  );
  return plannedRuns(c, schedule, starts, durations);
}

/** The expected run time in seconds: the median of recent reports, else the collector's timeout. */
export function expectedSeconds(c: CollectorConfig, durations: Durations): number {
  return durations.get(c.name) ?? c.timeoutSeconds;
}

/** A collector's planned runs, from their start times. */
export function plannedRuns(
  c: CollectorConfig,
  schedule: string,
  starts: readonly number[],
  durations: Durations,
): PlannedCollector {
  const seconds = expectedSeconds(c, durations);
  return {
    name: c.name,
    group: c.group,
    schedule,
    expectedSeconds: seconds,
    durationSource: durations.has(c.name) ? 'history' : 'timeout',
    runs: starts.map((startMs) => ({ collector: c.name, startMs, endMs: startMs + seconds * 1000 })),
  };
}

/** Overlaps within groups, in time order per group; at most `limit` of them. */
export function findOverlaps(collectors: readonly PlannedCollector[], limit = Infinity): Overlap[] {
  const byGroup = new Map<string, PlannedRun[]>();
  for (const c of collectors) {
    if (!c.group) continue;
    const runs = byGroup.get(c.group);
    if (runs) runs.push(...c.runs);
    else byGroup.set(c.group, [...c.runs]);
  }
  const overlaps: Overlap[] = [];
  for (const [group, runs] of byGroup) {
    const sorted = [...runs].sort((a, b) => a.startMs - b.startMs || a.collector.localeCompare(b.collector));
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length && sorted[j]!.startMs < sorted[i]!.endMs; j++) {
        if (overlaps.length >= limit) return overlaps;
        const first = sorted[i]!;
        const second = sorted[j]!;
        overlaps.push({
          group,
          first,
          second,
          overlapSeconds: (Math.min(first.endMs, second.endMs) - second.startMs) / 1000,
        });
      }
    }
  }
  return overlaps;
}

/** The median of a list of durations, or undefined if empty. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
