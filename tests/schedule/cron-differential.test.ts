/**
 * The numeric cron matcher (cron-matcher.ts) against croner, on crons drawn from a seeded random source:
 * any field may be `*`, a value, a range, a step over either, or a list of those. The same seed gives
 * the same crons on every run; a failure names its cron, zone and window to replay it.
 */
import { Cron } from 'croner';
import { compileSchedule, CronSyntaxError } from '../../src/schedule/cron';
import { parseNumericCron } from '../../src/schedule/cron-matcher';
import { seededRandom } from '../support/seeded-random';

const SEED = 15;
const CRONS = 400;
const HOUR = 3_600_000;

type Random = () => number;
const int = (random: Random, lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

/** One part of a field over [lo, hi]: `*`, `n`, `a-b`, `*\/s`, `a-b/s`, or `n/s` (which croner refuses). */
function part(random: Random, lo: number, hi: number): string {
  const a = int(random, lo, hi);
  const b = int(random, a, hi);
  const step = int(random, 1, Math.max(1, Math.floor((hi - lo) / 2)));
  if (random() < 0.02) return `${a}/${step}`;
  switch (int(random, 0, 4)) {
    case 0:
      return '*';
    case 1:
      return String(a);
    case 2:
      return `${a}-${b}`;
    case 3:
      return `*/${step}`;
    default:
      return `${a}-${b}/${step}`;
  }
}

function field(random: Random, lo: number, hi: number): string {
  const parts = Array.from({ length: random() < 0.25 ? int(random, 2, 3) : 1 }, () => part(random, lo, hi));
  return parts.includes('*') ? '*' : parts.join(',');
}

/**
 * A numeric cron whose runs are not too dense for croner to list in the window (a minute field of `*`
 * alone would be 1,440 runs a day), and whose days exist (day of month up to 28, so that no month and
 * day combination is impossible and croner never searches for years).
 */
function randomCron(random: Random): string {
  const minute = random() < 0.1 ? `*/${int(random, 5, 30)}` : field(random, 0, 59).replace(/^\*$/, '0');
  return [minute, field(random, 0, 23), field(random, 1, 28), field(random, 1, 12), field(random, 0, 7)].join(
    ' ',
  );
}

/** Zones with and without offset changes, and with half and quarter hours. */
const ZONES = [
  'UTC',
  'Europe/Paris',
  'America/New_York',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Australia/Lord_Howe',
];
const STEADY = new Set(['UTC', 'Asia/Kolkata', 'Asia/Kathmandu']);

function cronerRuns(expr: string, timezone: string, fromMs: number, toMs: number): number[] {
  const cron = new Cron(expr, { timezone, mode: '5-part', paused: true, domAndDow: false });
  const runs: number[] = [];
  for (let t = cron.nextRun(new Date(fromMs - 1)); t && t.getTime() < toMs; t = cron.nextRun(t))
    runs.push(t.getTime());
  return runs;
}

describe('the numeric cron matcher against croner, on seeded random crons', () => {
  const random = seededRandom(SEED);
  const cases = Array.from({ length: CRONS }, () => {
    const expr = randomCron(random);
    const zone = ZONES[int(random, 0, ZONES.length - 1)]!;
    // A window of up to two days anywhere in 2026-2028 (leap day and offset changes included).
    const fromMs = Date.UTC(2026, 0, 1) + int(random, 0, 3 * 365 * 24) * HOUR;
    return { expr, zone, fromMs, toMs: fromMs + int(random, 6, 48) * HOUR };
  });

  it(`${CRONS} crons: the same runs in each window, the same next run, the same due minutes`, () => {
    const wrong: unknown[] = [];
    let runsSeen = 0;
    let refused = 0;
    for (const { expr, zone, fromMs, toMs } of cases) {
      let expected: number[];
      try {
        expected = cronerRuns(expr, zone, fromMs, toMs);
      } catch {
        // What croner refuses, the config refuses too (the numeric path does not take it).
        refused++;
        expect(parseNumericCron(expr)).toBeNull();
        expect(() => compileSchedule(expr, zone)).toThrow(CronSyntaxError);
        continue;
      }
      expect(parseNumericCron(expr)).not.toBeNull();
      const schedule = compileSchedule(expr, zone);
      runsSeen += expected.length;
      const window = `${expr} in ${zone} from ${new Date(fromMs).toISOString()}`;
      if (JSON.stringify(schedule.runsBetween(fromMs, toMs)) !== JSON.stringify(expected))
        wrong.push({ window, runs: 'differ' });
      const next = new Cron(expr, { timezone: zone, mode: '5-part', paused: true, domAndDow: false }).nextRun(
        new Date(fromMs),
      );
      if (schedule.nextAfter(fromMs) !== (next?.getTime() ?? null))
        wrong.push({ window, nextAfter: 'differs' });
      if (STEADY.has(zone)) {
        // Where the offset never changes, a minute is due exactly when croner lists a run in it.
        const runs = new Set(expected);
        for (let t = fromMs; t < toMs; t += 60_000)
          if (schedule.isDueAt(t + 31_000) !== runs.has(t))
            wrong.push({ window, dueAt: new Date(t).toISOString() });
      }
    }
    expect(wrong).toEqual([]);
    // The draw is not degenerate: the crons fire, often.
    expect(runsSeen).toBeGreaterThan(CRONS);
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(CRONS / 2);
  });
});
