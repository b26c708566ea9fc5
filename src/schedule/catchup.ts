import type { Schedule } from './cron';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The most missed times one collector catches up at one tick (the newest ones): a long window on a
 * frequent cron must not turn one tick into hundreds of runs.
 * @default 24
 */
export const MAX_CATCHUP_RUNS = 24;

/**
 * The scheduled times of a collector that a tick at `tickMs` should catch up, oldest first: those after
 * its watermark (the last scheduled time it ran for) and within its catch-up window before the tick.
 * The tick's own time is not one of them (if due, it runs as the tick). Without a watermark (a new
 * collector, or a new state store) nothing is caught up: there is no record of what it missed.
 *
 * `windowSeconds` null is the default window, one period of the cron capped at a day: the one
 * scheduled time before the tick, if it is at most a day old. 0 turns catch-up off.
 */
export function missedTimes(
  schedule: Schedule,
  tickMs: number,
  watermarkMs: number | null,
  windowSeconds: number | null,
): number[] {
  if (watermarkMs === null || windowSeconds === 0) return [];
  const after = watermarkMs + 1;
  if (windowSeconds === null) {
    const last = lastBefore(schedule, Math.max(after, tickMs - DAY_MS), tickMs);
    return last === null ? [] : [last];
  }
  const from = Math.max(after, tickMs - windowSeconds * 1000);
  if (from >= tickMs) return [];
  const runs = schedule.runsBetween(from, tickMs);
  return runs.slice(-MAX_CATCHUP_RUNS);
}

/** The last firing in [fromMs, toMs), looking back in growing steps (a minutely cron has 1,440 a day). */
function lastBefore(schedule: Schedule, fromMs: number, toMs: number): number | null {
  for (const span of [HOUR_MS, 6 * HOUR_MS, DAY_MS]) {
    const start = Math.max(fromMs, toMs - span);
    const runs = schedule.runsBetween(start, toMs);
    if (runs.length > 0) return runs[runs.length - 1]!;
    if (start === fromMs) return null;
  }
  return null;
}
