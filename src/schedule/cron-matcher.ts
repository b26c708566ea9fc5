import { cronFields, expandField } from './cron-fields';

/**
 * Numeric cron expressions (`*`, `n`, `n-m`, `/step` and lists of them in every field; the @daily-style
 * nicknames) matched against wall-clock fields without croner. croner spends 0.3–0.6 ms building a
 * Cron and about 1.5 ms per evaluation in a named zone (an Intl.DateTimeFormat per conversion): at 5,000
 * collectors that is seconds for loading the config, selecting a tick's collectors or planning a day.
 * Here an expression is five sets of numbers, and a run is a look-up.
 *
 * The semantics are croner's with `domAndDow: false` (Vixie cron, Cloud Scheduler): day-of-month and
 * day-of-week combine with OR when neither is exactly `*`, else with AND; day-of-week 7 is Sunday.
 * Anything else (names, `L`, `W`, `#`, `?`) is left to croner (`parseNumericCron` answers null).
 */
export interface NumericCron {
  minutes: Uint8Array;
  hours: Uint8Array;
  /** Index 1–31. */
  days: Uint8Array;
  /** Index 1–12. */
  months: Uint8Array;
  /** Index 0–6, Sunday 0. */
  weekdays: Uint8Array;
  /** Minutes and hours in order, for generating runs. */
  minuteList: readonly number[];
  hourList: readonly number[];
  /** Day-of-month and day-of-week combine with OR (both restricted), else AND. */
  either: boolean;
}

const NUMERIC_FIELD = /^[\d*,/-]+$/;

/** The expression as sets, or null when it uses syntax this matcher leaves to croner. */
export function parseNumericCron(expression: string): NumericCron | null {
  const fields = cronFields(expression);
  if (!fields || !fields.every((f) => NUMERIC_FIELD.test(f))) return null;
  const [minute, hour, day, month, weekday] = fields as [string, string, string, string, string];
  const minuteList = expandField(minute, 0, 59);
  const hourList = expandField(hour, 0, 23);
  const dayList = expandField(day, 1, 31);
  const monthList = expandField(month, 1, 12);
  const weekdayList = expandField(weekday, 0, 7);
  if (!minuteList || !hourList || !dayList || !monthList || !weekdayList) return null;
  const set = (values: readonly number[], size: number) => {
    const out = new Uint8Array(size);
    for (const v of values) out[v] = 1;
    return out;
  };
  const weekdays = set(
    weekdayList.map((d) => d % 7),
    7,
  );
  return {
    minutes: set(minuteList, 60),
    hours: set(hourList, 24),
    days: set(dayList, 32),
    months: set(monthList, 13),
    weekdays,
    minuteList,
    hourList,
    either: day !== '*' && weekday !== '*',
  };
}

const MONTH_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether the expression fires on some date at all (`0 0 30 2 *` never does). */
export function firesEver(cron: NumericCron): boolean {
  // OR with a restricted day-of-week fires every week; AND with every weekday only needs a date.
  if (cron.either) return true;
  for (let m = 1; m <= 12; m++) {
    if (!cron.months[m]) continue;
    for (let d = 1; d <= MONTH_DAYS[m]!; d++) if (cron.days[d]) return true;
  }
  return false;
}

/** Whether the date (a UTC-based day number's fields) matches the day fields. */
export function dayMatches(cron: NumericCron, month: number, day: number, weekday: number): boolean {
  if (!cron.months[month]) return false;
  const byDay = cron.days[day] === 1;
  const byWeekday = cron.weekdays[weekday] === 1;
  return cron.either ? byDay || byWeekday : byDay && byWeekday;
}

/** Whether the wall-clock minute `localMs` (local time expressed as if UTC) matches. */
export function matchesLocal(cron: NumericCron, localMs: number): boolean {
  const d = new Date(localMs);
  return (
    cron.minutes[d.getUTCMinutes()] === 1 &&
    cron.hours[d.getUTCHours()] === 1 &&
    dayMatches(cron, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCDay())
  );
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * Runs in [fromMs, toMs) at a fixed UTC offset, in order, at most `limit`: day by day, each matching
 * day's hours × minutes. O(days + runs), whatever the expression.
 */
export function runsAtOffset(
  cron: NumericCron,
  offsetMinutes: number,
  fromMs: number,
  toMs: number,
  limit: number,
  out: number[],
): void {
  const offsetMs = offsetMinutes * MINUTE_MS;
  const localFrom = fromMs + offsetMs;
  const localTo = toMs + offsetMs;
  for (let day = Math.floor(localFrom / DAY_MS) * DAY_MS; day < localTo; day += DAY_MS) {
    const date = new Date(day);
    if (!dayMatches(cron, date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCDay())) continue;
    for (const h of cron.hourList) {
      for (const m of cron.minuteList) {
        const local = day + h * 3_600_000 + m * MINUTE_MS;
        if (local < localFrom) continue;
        if (local >= localTo) return;
        if (out.length >= limit) return;
        out.push(local - offsetMs);
      }
    }
  }
}
