import { Cron } from 'croner';
import { firesEver, matchesLocal, parseNumericCron, runsAtOffset, type NumericCron } from './cron-matcher';
import { offsetMinutes, zoneSpans } from './zone-spans';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Around an offset change, local times may repeat or be missing: croner decides there (see zone-spans). */
const MARGIN_MS = 3 * HOUR_MS;
/** nextAfter looks this far ahead (a leap day's expression fires every four years, at worst eight). */
const NEXT_HORIZON_MS = 8 * 366 * DAY_MS;

/** A cron expression bound to a time zone. Times are epoch milliseconds. */
export interface Schedule {
  readonly expression: string;
  readonly timezone: string;
  /** True when the schedule fires within the minute containing `atMs`. */
  isDueAt(atMs: number): boolean;
  /** The first firing strictly after `afterMs`, or null if it never fires again. */
  nextAfter(afterMs: number): number | null;
  /** Firings in [fromMs, toMs), at most `limit` of them (the first ones). */
  runsBetween(fromMs: number, toMs: number, limit?: number): number[];
}

/** Why a cron expression was refused, phrased for a config error. */
export class CronSyntaxError extends Error {}

/** Compiled schedules by zone and expression: a config names few distinct ones, and many collectors. */
const compiled = new Map<string, Schedule>();
const COMPILED_LIMIT = 10_000;

/**
 * Compiles a standard 5-field cron expression (minute hour day-of-month month day-of-week, with
 * names, ranges, steps and @daily-style nicknames), evaluated in `timezone` like Cloud Scheduler
 * does. Day-of-month and day-of-week combine with OR, as in Vixie cron and Cloud Scheduler.
 *
 * Numeric expressions are matched by cron-matcher.ts wherever the zone's offset is constant, and by
 * croner (built on first need) around offset changes and for everything else. Compiled schedules are
 * shared: the same (expression, zone) is compiled once per process.
 */
export function compileSchedule(expression: string, timezone: string): Schedule {
  const expr = expression.trim();
  const key = `${timezone}\n${expr}`;
  const known = compiled.get(key);
  if (known) return known;
  const fields = expr.split(/\s+/);
  if (!expr.startsWith('@') && fields.length !== 5) {
    throw new CronSyntaxError(
      `"${expression}" is not a cron expression (5 fields expected, got ${fields.length})`,
    );
  }
  const numeric = parseNumericCron(expr);
  const schedule = numeric ? numericSchedule(expr, timezone, numeric) : cronerSchedule(expr, timezone);
  if (compiled.size >= COMPILED_LIMIT) compiled.clear();
  compiled.set(key, schedule);
  return schedule;
}

function newCron(expr: string, zone: { timezone: string } | { utcOffset: number }): Cron {
  try {
    return new Cron(expr, { ...zone, mode: '5-part', paused: true, domAndDow: false });
  } catch (error) {
    const why = (error as Error).message.replace(/^CronPattern:\s*/, '');
    throw new CronSyntaxError(`"${expr}" is not a valid cron expression (${why})`);
  }
}

function neverFires(expr: string): CronSyntaxError {
  // Feb 30 and friends parse fine but never fire; a schedule that never runs is a mistake.
  return new CronSyntaxError(`"${expr}" never fires (no such date)`);
}

/** croner for everything: expressions with names, L, W, #. */
function cronerSchedule(expr: string, timezone: string): Schedule {
  const cron = newCron(expr, { timezone });
  if (!cron.nextRun(new Date(Date.UTC(2000, 0, 1)))) throw neverFires(expr);
  const nextAfter = (afterMs: number): number | null => cron.nextRun(new Date(afterMs))?.getTime() ?? null;
  const atOffset = new Map<number, Cron>();
  const fixed = (offset: number): Cron => {
    let c = atOffset.get(offset);
    if (!c) {
      c = newCron(expr, { utcOffset: offset });
      atOffset.set(offset, c);
    }
    return c;
  };
  return {
    expression: expr,
    timezone,
    isDueAt: (atMs) => {
      const minute = Math.floor(atMs / MINUTE_MS) * MINUTE_MS;
      return nextAfter(minute - 1) === minute;
    },
    nextAfter,
    runsBetween(fromMs, toMs, limit = Infinity) {
      const runs: number[] = [];
      // The same runs as stepping with nextAfter, ~15 times faster where the zone's offset is constant.
      for (const span of zoneSpans(timezone, fromMs, toMs)) {
        const c = span.kind === 'zone' ? cron : fixed(span.offsetMinutes);
        const next = (ms: number) => c.nextRun(new Date(ms))?.getTime() ?? null;
        for (let t = next(span.fromMs - 1); t !== null && t < span.toMs; t = next(t)) {
          if (runs.length >= limit) return runs;
          runs.push(t);
        }
      }
      return runs;
    },
  };
}

/** The matcher where the zone's offset is constant; croner (built on first need) around changes. */
function numericSchedule(expr: string, timezone: string, numeric: NumericCron): Schedule {
  if (!firesEver(numeric)) throw neverFires(expr);
  let zoned: Cron | null = null;
  const zone = () => (zoned ??= newCron(expr, { timezone }));
  const runsBetween = (fromMs: number, toMs: number, limit = Infinity): number[] => {
    const runs: number[] = [];
    for (const span of zoneSpans(timezone, fromMs, toMs)) {
      if (runs.length >= limit) break;
      if (span.kind === 'fixed') {
        runsAtOffset(numeric, span.offsetMinutes, span.fromMs, span.toMs, limit, runs);
        continue;
      }
      const next = (ms: number) => zone().nextRun(new Date(ms))?.getTime() ?? null;
      for (let t = next(span.fromMs - 1); t !== null && t < span.toMs; t = next(t)) {
        if (runs.length >= limit) break;
        runs.push(t);
      }
    }
    return runs;
  };
  return {
    expression: expr,
    timezone,
    isDueAt(atMs) {
      const minute = Math.floor(atMs / MINUTE_MS) * MINUTE_MS;
      const offset = cachedOffset(timezone, minute - MARGIN_MS);
      if (offset === cachedOffset(timezone, minute + MARGIN_MS)) {
        return matchesLocal(numeric, minute + offset * MINUTE_MS);
      }
      return (
        zone()
          .nextRun(new Date(minute - 1))
          ?.getTime() === minute
      );
    },
    nextAfter(afterMs) {
      // Week by week: the first window holding a run answers (an expression that fires at all does
      // so within a few years).
      for (let from = afterMs + 1; from < afterMs + NEXT_HORIZON_MS; from += 7 * DAY_MS) {
        const [first] = runsBetween(from, from + 7 * DAY_MS, 1);
        if (first !== undefined) return first;
      }
      return null;
    },
    runsBetween,
  };
}

/**
 * A zone's offset at `ms`, remembered per quarter hour (zones change offsets on quarter hours): a tick
 * asks it twice for each of thousands of collectors, and each answer costs an Intl conversion.
 */
const offsets = new Map<string, number>();
const OFFSETS_LIMIT = 4_096;

function cachedOffset(timezone: string, ms: number): number {
  const key = `${timezone}|${Math.floor(ms / 900_000)}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    offset = offsetMinutes(timezone, Math.floor(ms / 900_000) * 900_000);
    if (offsets.size >= OFFSETS_LIMIT) offsets.clear();
    offsets.set(key, offset);
  }
  return offset;
}

export function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
