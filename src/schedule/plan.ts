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
  toMs: number;
  timezone: string;
  collectors: PlannedCollector[];
  overlaps: Overlap[];
}

/** Expected durations in seconds by collector (from reports); missing ones fall back to the timeout. */
export type Durations = ReadonlyMap<string, number>;

/** The runs of every enabled, scheduled collector in [from, from + hours), and the group overlaps. */
export function buildPlan(config: Config, fromMs: number, hours: number, durations: Durations): Plan {
  const toMs = fromMs + hours * 3_600_000;
  const collectors = config.collectors
    .filter((c) => c.enabled && c.schedule !== null)
    .map((c) => planCollector(c, c.schedule!, config.timezone, fromMs, toMs, durations));
  return { fromMs, toMs, timezone: config.timezone, collectors, overlaps: findOverlaps(collectors) };
}

export function planCollector(
  c: CollectorConfig,
  schedule: string,
  timezone: string,
  fromMs: number,
  toMs: number,
  durations: Durations,
): PlannedCollector {
  const fromHistory = durations.get(c.name);
  const expectedSeconds = fromHistory ?? c.timeoutSeconds;
  const durationMs = expectedSeconds * 1000;
  // Runs that started before the window but are still going count too.
  const runs = compileSchedule(schedule, timezone)
    .runsBetween(fromMs - durationMs, toMs)
    .map((startMs) => ({ collector: c.name, startMs, endMs: startMs + durationMs }));
  return {
    name: c.name,
    group: c.group,
    schedule,
    expectedSeconds,
    durationSource: fromHistory === undefined ? 'timeout' : 'history',
    runs,
  };
}

export function findOverlaps(collectors: readonly PlannedCollector[]): Overlap[] {
  const byGroup = new Map<string, PlannedRun[]>();
  for (const c of collectors) {
    if (!c.group) continue;
    byGroup.set(c.group, [...(byGroup.get(c.group) ?? []), ...c.runs]);
  }
  const overlaps: Overlap[] = [];
  for (const [group, runs] of byGroup) {
    const sorted = [...runs].sort((a, b) => a.startMs - b.startMs || a.collector.localeCompare(b.collector));
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length && sorted[j]!.startMs < sorted[i]!.endMs; j++) {
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
