import type { CollectorConfig, Config } from '../config/types';
import { shiftCron } from './cron-fields';
import {
  expectedSeconds,
  planCollector,
  plannedRuns,
  type Durations,
  type PlannedCollector,
  type PlannedRun,
} from './plan';
import { ShiftableRuns } from './shift-runs';

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
  /** Of those, the ones the search did not reach: it stopped at its budget (SEARCH_BUDGET). */
  notSearched?: string[];
}

/** Candidates are screened over two days; the one chosen is checked over a week (weekday-only schedules). */
const SCREEN_HOURS = 48;
const VERIFY_HOURS = 24 * 7;

/**
 * What the search may spend for one suggestion, in estimated microseconds of CPU on a small machine:
 * a run evaluated by the cron library costs ~25, compiling an expression ~300, a shifted run worked
 * out by arithmetic ~0.5. It keeps `scheduler plan` well under a second of CPU whatever the config;
 * members not reached are reported as such, not guessed.
 * @default 400_000
 */
export const SEARCH_BUDGET = 400_000;
const COST = { cronRun: 25, compile: 300, shiftedRun: 0.5 } as const;

/**
 * Staggered schedules for each credential group: the most frequent member keeps its schedule; each
 * other member, in turn, takes the smallest shift of its minutes (then hours) for which none of its
 * runs meets a run already placed, or itself. Each shift keeps the collector's frequency.
 *
 * Shifts that give the same expression are tried once (`*\/5` has 5 distinct minute shifts, not
 * 1,440), candidates are screened by arithmetic on the member's own runs (shift-runs.ts), and a member
 * whose runs meet each other is unresolved at once: a shift keeps the gaps between its runs.
 */
export function suggestSchedules(
  config: Config,
  fromMs: number,
  durations: Durations,
  budget: number = SEARCH_BUDGET,
): Suggestion {
  const window = {
    fromMs,
    screenTo: fromMs + SCREEN_HOURS * 3_600_000,
    verifyTo: fromMs + VERIFY_HOURS * 3_600_000,
  };
  const search = new Search(config.timezone, window, durations, budget);
  const changes: ScheduleChange[] = [];
  const unresolved: string[] = [];
  const notSearched: string[] = [];
  for (const [group, members] of groupsOf(config)) {
    const busy = new Busy();
    // Most frequent first (runs over the screening window), then config order.
    const order = members
      .map((c, i) => ({ c, i, runs: search.exhausted() ? null : search.screenRuns(c) }))
      .sort((a, b) => (b.runs?.size ?? 0) - (a.runs?.size ?? 0) || a.i - b.i);
    for (const { c, runs } of order) {
      const chosen = runs === null || search.exhausted() ? null : search.place(c, runs, busy);
      if (chosen) {
        busy.add(chosen.runs);
        if (chosen.schedule !== c.schedule)
          changes.push({ collector: c.name, group, from: c.schedule!, to: chosen.schedule });
        continue;
      }
      (search.exhausted() ? notSearched : unresolved).push(c.name);
      // It keeps running as configured: later members must avoid it.
      busy.add(search.verified(c, c.schedule!).runs);
    }
  }
  return notSearched.length > 0
    ? { changes, unresolved: [...unresolved, ...notSearched], notSearched }
    : { changes, unresolved };
}

function groupsOf(config: Config): Map<string, CollectorConfig[]> {
  const groups = new Map<string, CollectorConfig[]>();
  for (const c of config.collectors) {
    if (c.enabled && c.schedule !== null && c.group) groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  }
  return groups;
}

interface Window {
  fromMs: number;
  screenTo: number;
  verifyTo: number;
}

/** The candidate search, counting what it spends against its budget. */
class Search {
  private spent = 0;

  constructor(
    private readonly timezone: string,
    private readonly window: Window,
    private readonly durations: Durations,
    private readonly budget: number,
  ) {}

  exhausted(): boolean {
    return this.spent >= this.budget;
  }

  /** The member's runs over the screening window (including runs still going at its start). */
  screenRuns(c: CollectorConfig): ShiftableRuns {
    const runs = new ShiftableRuns(
      c.schedule!,
      this.timezone,
      this.window.fromMs - expectedSeconds(c, this.durations) * 1000,
      this.window.screenTo,
    );
    this.spent += COST.compile + runs.size * COST.cronRun;
    return runs;
  }

  /** The schedule's runs over the verification week, exactly. */
  verified(c: CollectorConfig, schedule: string): PlannedCollector {
    const { fromMs, verifyTo } = this.window;
    const planned = planCollector(c, schedule, this.timezone, fromMs, verifyTo, this.durations);
    this.spent += COST.compile + planned.runs.length * COST.cronRun;
    return planned;
  }

  /** The first shift of `c`'s schedule that meets nothing in `busy`, or null. */
  place(c: CollectorConfig, runs: ShiftableRuns, busy: Busy): PlannedCollector | null {
    const tried = new Set<string>();
    for (const [minutes, hours] of shifts()) {
      if (this.exhausted()) return null;
      const schedule = minutes === 0 && hours === 0 ? c.schedule! : shiftCron(c.schedule!, minutes, hours);
      if (schedule === null) return null;
      if (tried.has(schedule)) continue;
      tried.add(schedule);
      const screened = plannedRuns(c, schedule, runs.runs(minutes, hours), this.durations);
      this.spent += runs.size * COST.shiftedRun;
      if (overlapsItself(screened.runs)) return null;
      if (busy.meets(screened.runs)) continue;
      let verified: PlannedCollector;
      try {
        verified = this.verified(c, schedule);
      } catch {
        continue; // not a valid expression after all (e.g. a day that no longer exists)
      }
      if (!overlapsItself(verified.runs) && !busy.meets(verified.runs)) return verified;
    }
    return null;
  }
}

/** Whether runs (sorted by start) meet one another. */
function overlapsItself(runs: readonly PlannedRun[]): boolean {
  for (let i = 1; i < runs.length; i++) if (runs[i]!.startMs < runs[i - 1]!.endMs) return true;
  return false;
}

/** The time already taken by placed runs, as sorted disjoint intervals. */
class Busy {
  private intervals: Array<[number, number]> = [];

  add(runs: readonly PlannedRun[]): void {
    const all = [...this.intervals, ...runs.map((r): [number, number] => [r.startMs, r.endMs])].sort(
      (a, b) => a[0] - b[0],
    );
    const merged: Array<[number, number]> = [];
    for (const [s, e] of all) {
      const last = merged[merged.length - 1];
      if (last && s < last[1]) last[1] = Math.max(last[1], e);
      else merged.push([s, e]);
    }
    this.intervals = merged;
  }

  /** Whether any run overlaps a busy interval (touching ends do not count, as in findOverlaps). */
  meets(runs: readonly PlannedRun[]): boolean {
    return runs.some((r) => {
      // The first interval ending after the run starts.
      let lo = 0;
      let hi = this.intervals.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.intervals[mid]![1] <= r.startMs) lo = mid + 1;
        else hi = mid;
      }
      const next = this.intervals[lo];
      return next !== undefined && next[0] < r.endMs;
    });
  }
}

/** (minutes, hours) shifts, smallest first: the unshifted schedule, then later minutes, then hours. */
function* shifts(): Generator<[number, number]> {
  for (let hours = 0; hours < 24; hours++) {
    for (let minutes = 0; minutes < 60; minutes++) yield [minutes, hours];
  }
}
