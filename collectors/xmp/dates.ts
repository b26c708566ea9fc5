import type { XmpMode } from './options';

/**
 * XMP reports a day in the ad account's own time zone, so "today" and "yesterday" are calendar days in
 * that zone, not in UTC or in the scheduler's zone.
 */

/** The calendar day (YYYY-MM-DD) of `ms` in `timezone`. */
export function localDay(ms: number, timezone: string): string {
  // en-CA formats a date as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(ms));
}

/** `day` moved by `days` calendar days (no time zone involved: days are labels here). */
export function addDays(day: string, days: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/**
 * The days a run pulls, oldest first: realtime re-pulls the last `realtimeDays` days, today included,
 * since same-day (and late-attributed) data keeps changing; daily pulls T-1, the day before the run.
 */
export function reportDays(
  mode: XmpMode,
  scheduledTime: Date,
  timezone: string,
  realtimeDays: number,
): string[] {
  const today = localDay(scheduledTime.getTime(), timezone);
  if (mode === 'daily') return [addDays(today, -1)];
  return Array.from({ length: realtimeDays }, (_, i) => addDays(today, i - realtimeDays + 1));
}
