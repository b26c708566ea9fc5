import type { Config } from '../config/types';
import { shiftCron } from './cron-fields';
import { findOverlaps, planCollector, type Durations, type PlannedCollector } from './plan';

export interface ScheduleChange {
  collector: string;
  group: string;
  from: string;
  to: string;
}

export interface Suggestion {
  /** Changes that remove every overlap the plan found; empty when there was none to remove. */
  changes: ScheduleChange[];
  /** Collectors no shift of minutes or hours could place without an overlap. */
  unresolved: string[];
}

/** Candidates are screened over two days; the one chosen is checked over a week (weekday-only schedules). */
const SCREEN_HOURS = 48;
const VERIFY_HOURS = 24 * 7;

/**
 * Staggered schedules for each credential group: the most frequent member keeps its schedule; each
 * other member, in turn, takes the smallest shift of its minutes (then hours) for which none of its
 * runs meets a run already placed, or itself. Each shift keeps the collector's frequency.
 */
export function suggestSchedules(config: Config, fromMs: number, durations: Durations): Suggestion {
  const screenTo = fromMs + SCREEN_HOURS * 3_600_000;
  const verifyTo = fromMs + VERIFY_HOURS * 3_600_000;
  const changes: ScheduleChange[] = [];
  const unresolved: string[] = [];
  const groups = new Map<string, typeof config.collectors>();
  for (const c of config.collectors) {
    if (c.enabled && c.schedule !== null && c.group) groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  }
  for (const [group, members] of groups) {
    const planned = members.map((c) =>
      planCollector(c, c.schedule!, config.timezone, fromMs, verifyTo, durations),
    );
    const order = planned
      .map((p, i) => ({ p, i, c: members[i]! }))
      .sort((a, b) => b.p.runs.length - a.p.runs.length || a.i - b.i);
    const placed: PlannedCollector[] = [];
    for (const { p, c } of order) {
      let chosen: PlannedCollector | null = null;
      for (const [minutes, hours] of shifts()) {
        const schedule = minutes === 0 && hours === 0 ? c.schedule! : shiftCron(c.schedule!, minutes, hours);
        if (schedule === null) break;
        let screened: PlannedCollector;
        try {
          screened = planCollector(c, schedule, config.timezone, fromMs, screenTo, durations);
        } catch {
          continue;
        }
        if (findOverlaps([...placed.map((q) => clip(q, screenTo)), screened]).length > 0) continue;
        const verified = planCollector(c, schedule, config.timezone, fromMs, verifyTo, durations);
        if (findOverlaps([...placed, verified]).length === 0) {
          chosen = verified;
          break;
        }
      }
      if (chosen) {
        placed.push(chosen);
        if (chosen.schedule !== c.schedule)
          changes.push({ collector: c.name, group, from: c.schedule!, to: chosen.schedule });
      } else {
        placed.push(p);
        unresolved.push(c.name);
      }
    }
  }
  return { changes, unresolved };
}

function clip(p: PlannedCollector, toMs: number): PlannedCollector {
  return { ...p, runs: p.runs.filter((r) => r.startMs < toMs) };
}

/** (minutes, hours) shifts, smallest first: the unshifted schedule, then later minutes, then hours. */
function* shifts(): Generator<[number, number]> {
  for (let hours = 0; hours < 24; hours++) {
    for (let minutes = 0; minutes < 60; minutes++) yield [minutes, hours];
  }
}
