import { Cron } from 'croner';
import { compileSchedule, CronSyntaxError } from '../../src/schedule/cron';
import { parseNumericCron } from '../../src/schedule/cron-matcher';
import { offsetMinutes } from '../../src/schedule/zone-spans';

const fixedCrons = new Map<string, Cron>();
function fixedCron(expr: string, utcOffset: number): Cron {
  const key = `${expr}|${utcOffset}`;
  let cron = fixedCrons.get(key);
  if (!cron) {
    cron = new Cron(expr, { utcOffset, mode: '5-part', paused: true, domAndDow: false });
    fixedCrons.set(key, cron);
  }
  return cron;
}

/** What croner alone says: the reference the fast matcher must agree with. */
function cronerRuns(expr: string, timezone: string, fromMs: number, toMs: number): number[] {
  const cron = new Cron(expr, { timezone, mode: '5-part', paused: true, domAndDow: false });
  const runs: number[] = [];
  for (let t = cron.nextRun(new Date(fromMs - 1)); t && t.getTime() < toMs; t = cron.nextRun(t))
    runs.push(t.getTime());
  return runs;
}

const EXPRESSIONS = [
  '*/15 * * * *',
  '30 2 * * *',
  '0 2-23/6 * * *',
  '5,35 1-3 * * *',
  '0 0 29 2 *',
  '0 12 13 * 5',
  '0 9 * * 1-5',
  '0 3 * * 7',
  '45 23 31 * *',
  '0 0 1 1,7 *',
  '@daily',
  '@hourly',
  '10-20/5 0 */2 * *',
];

/** Days around the zones' offset changes (2026), a leap day and ordinary days. */
const WINDOWS: [string, string, string][] = [
  ['Europe/Paris', '2026-03-28T12:00:00Z', '2026-03-30T00:00:00Z'],
  ['Europe/Paris', '2026-10-24T12:00:00Z', '2026-10-26T00:00:00Z'],
  ['America/New_York', '2026-03-07T12:00:00Z', '2026-03-09T00:00:00Z'],
  ['Australia/Lord_Howe', '2026-04-04T00:00:00Z', '2026-04-05T12:00:00Z'],
  ['Asia/Kolkata', '2028-02-28T00:00:00Z', '2028-03-01T12:00:00Z'],
  ['UTC', '2026-11-20T00:00:00Z', '2026-11-22T00:00:00Z'],
];

describe('the numeric cron matcher agrees with croner', () => {
  it.each(WINDOWS)('every expression, runs and due minutes, in %s from %s', (zone, from, to) => {
    const fromMs = Date.parse(from);
    const toMs = Date.parse(to);
    // The zone's offset by quarter hour, and whether it is the same 4 h either side of each minute.
    const offsetAt = new Map<number, number>();
    for (let q = fromMs - 5 * 3_600_000; q < toMs + 5 * 3_600_000; q += 900_000)
      offsetAt.set(q, offsetMinutes(zone, q));
    const quarter = (t: number) => offsetAt.get(Math.floor(t / 900_000) * 900_000)!;
    for (const expr of EXPRESSIONS) {
      expect(parseNumericCron(expr)).not.toBeNull();
      const schedule = compileSchedule(expr, zone);
      const expected = cronerRuns(expr, zone, fromMs, toMs);
      expect({ expr, runs: schedule.runsBetween(fromMs, toMs) }).toEqual({ expr, runs: expected });
      // Due: croner's next run after the minute's start is that minute (how a tick was always judged;
      // around an offset change croner's answer depends on where it starts looking). croner in a zone
      // costs ~1.5 ms a call: every minute at a fixed offset, and near the changes the minutes that can
      // matter (runs and their neighbours, quarter hours).
      const zoned = new Cron(expr, { timezone: zone, mode: '5-part', paused: true, domAndDow: false });
      const wrong: string[] = [];
      const near = new Set(expected.flatMap((r) => [r - 60_000, r, r + 60_000]));
      for (let t = fromMs; t < toMs; t += 60_000) {
        const steady = quarter(t - 4 * 3_600_000) === quarter(t + 4 * 3_600_000);
        if (!steady && !near.has(t) && t % 900_000 !== 0) continue;
        const cron = steady ? fixedCron(expr, quarter(t)) : zoned;
        const due = cron.nextRun(new Date(t - 1))?.getTime() === t;
        if (schedule.isDueAt(t + 17_000) !== due) wrong.push(new Date(t).toISOString());
      }
      expect({ expr, wrong }).toEqual({ expr, wrong: [] });
    }
  });

  it('finds the next run as croner does, years ahead for a leap day', () => {
    const after = Date.parse('2026-03-01T00:00:00Z');
    for (const expr of EXPRESSIONS) {
      const cron = new Cron(expr, {
        timezone: 'Europe/Paris',
        mode: '5-part',
        paused: true,
        domAndDow: false,
      });
      expect({ expr, next: compileSchedule(expr, 'Europe/Paris').nextAfter(after) }).toEqual({
        expr,
        next: cron.nextRun(new Date(after))!.getTime(),
      });
    }
  });

  it('leaves names, L, W and # to croner, and refuses what croner refuses', () => {
    for (const expr of ['0 9 * * MON-FRI', '0 0 L * *', '0 0 * * 5#2', '0 0 * JAN *'])
      expect(parseNumericCron(expr)).toBeNull();
    expect(compileSchedule('0 9 * * MON-FRI', 'UTC').isDueAt(Date.parse('2026-11-23T09:00:00Z'))).toBe(true);
    for (const expr of ['60 * * * *', '0 0 0 * *', '*/0 * * * *', '0 0 * * 8', '0 0 30 2 *'])
      expect(() => compileSchedule(expr, 'UTC')).toThrow(CronSyntaxError);
  });
});
