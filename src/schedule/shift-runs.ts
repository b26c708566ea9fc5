import { compileSchedule } from './cron';
import { offsetMinutes, zoneSpans } from './zone-spans';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/**
 * The runs of a cron schedule shifted by `minutes` and `hours` (see shiftCron: each minute and hour
 * value moves modulo 60 and 24, the day fields stay), worked out from the unshifted schedule's runs
 * instead of compiling each shifted expression (~0.3 ms each; the stagger search tries up to 1,440
 * shifts per member). The shifted schedule fires on the same local days, at each (hour, minute) of the
 * original moved by the shift, so each run moves within its local day.
 *
 * Exact wherever the zone's offset is the same at a run and at its shifted time; within hours of an
 * offset change a run can be an hour off. That is good enough to screen candidates: the schedule the
 * search settles on is compiled and checked exactly.
 */
export class ShiftableRuns {
  /** Unshifted runs (UTC ms), and each one's local minute of the day. */
  private readonly base: number[];
  private readonly minuteOfDay: number[];

  constructor(
    expression: string,
    timezone: string,
    private readonly fromMs: number,
    private readonly toMs: number,
  ) {
    // A shifted run stays on its local day, so it comes from an unshifted run less than a day away.
    this.base = compileSchedule(expression, timezone).runsBetween(fromMs - DAY_MS, toMs + DAY_MS);
    const spans = zoneSpans(timezone, fromMs - DAY_MS, toMs + DAY_MS);
    let s = 0;
    this.minuteOfDay = this.base.map((t) => {
      while (spans[s] && spans[s]!.toMs <= t) s++;
      const span = spans[s];
      const offset = span?.kind === 'fixed' ? span.offsetMinutes : offsetMinutes(timezone, t);
      const local = t + offset * MINUTE_MS;
      return Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);
    });
  }

  /** How many unshifted runs were enumerated (for the search's cost accounting). */
  get size(): number {
    return this.base.length;
  }

  /** Start times of the schedule shifted by (minutes, hours), within [fromMs, toMs), sorted. */
  runs(minutes: number, hours: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.base.length; i++) {
      const before = this.minuteOfDay[i]!;
      const h = Math.floor(before / 60);
      const after = ((h + hours) % 24) * 60 + (((before % 60) + minutes) % 60);
      const t = this.base[i]! + (after - before) * MINUTE_MS;
      if (t >= this.fromMs && t < this.toMs) out.push(t);
    }
    return minutes === 0 && hours === 0 ? out : out.sort((a, b) => a - b);
  }
}
