import type { CollectorConfig } from '../config/types';
import type { Services } from '../services';
import { missedTimes } from './catchup';
import { compileSchedule } from './cron';
import { pauseFor, type PauseRecord } from './pause';
import { advanceWatermark, isClaimed, readWatermarkRecord, type KnownWatermark } from './run-claims';
import { planned, type AdmittedRun, type AdmittedRuns, type PlannedRun } from './run-plan';

/** Catch-up in the state store: which missed times a tick makes up, and the watermarks it moves. */

type Deps = Pick<Services, 'config' | 'clock' | 'stores' | 'logger'>;

/** Missed scheduled times of every enabled, unpaused collector, not yet claimed by anyone. */
export async function catchups(
  services: Deps,
  tickMs: number,
  pauses: readonly PauseRecord[],
  watermarks: Map<string, KnownWatermark>,
): Promise<PlannedRun[]> {
  const { config } = services;
  const state = services.stores.state;
  const candidates = config.collectors.filter(
    (c) =>
      c.enabled &&
      c.schedule !== null &&
      c.scheduling.catchupWindowSeconds !== 0 &&
      pauseFor(pauses, c) === null,
  );
  const perCollector = await Promise.all(
    candidates.map(async (c) => {
      const watermark = await readWatermarkRecord(state, c.name);
      watermarks.set(c.name, watermark);
      const times = missedTimes(
        compileSchedule(c.schedule!, config.timezone),
        tickMs,
        watermark.ms,
        c.scheduling.catchupWindowSeconds,
      );
      const open = await Promise.all(
        times.map(async (t) => ((await isClaimed(state, c.name, t, services.clock.now())) ? null : t)),
      );
      return open.filter((t): t is number => t !== null).map((t) => planned(c, t, 'catchup'));
    }),
  );
  return perCollector.flat();
}

/**
 * Watermarks move to the latest tick or catch-up time each collector ran for (or was paused at), but
 * never past a time whose claim was given back: that one is still to be caught up. A collector without
 * catch-up (`catchup_window: 0`) keeps none; one whose watermark the tick read writes it back without
 * reading it again.
 */
export async function moveWatermarks(
  services: Deps,
  admitted: AdmittedRuns,
  released: ReadonlySet<AdmittedRun>,
  executionId: string,
): Promise<void> {
  const marks = new Map<string, { latest: number; cap: number }>();
  const note = (name: string, timeMs: number, given: boolean) => {
    const m = marks.get(name) ?? { latest: -Infinity, cap: Infinity };
    if (given) m.cap = Math.min(m.cap, timeMs - 1);
    else m.latest = Math.max(m.latest, timeMs);
    marks.set(name, m);
  };
  const keeps = (c: CollectorConfig) => c.scheduling.catchupWindowSeconds !== 0;
  for (const run of admitted.runs)
    if ((run.kind === 'tick' || run.kind === 'catchup') && keeps(run.collector))
      note(run.collector.name, run.scheduledTimeMs, released.has(run));
  for (const d of admitted.decided)
    if (d.run.kind === 'tick' && d.outcome.reason === 'paused' && keeps(d.run.collector))
      note(d.run.collector.name, d.run.scheduledTimeMs, false);
  await Promise.all(
    [...marks].map(([collector, m]) => {
      const to = Math.min(m.latest, m.cap);
      if (!Number.isFinite(to)) return undefined;
      return advanceWatermark(
        services.stores.state,
        { collector, scheduledTimeMs: to, executionId, nowMs: services.clock.now() },
        admitted.watermarks.get(collector),
      ).catch((error: unknown) =>
        services.logger.warn(`watermark of ${collector} not moved: ${(error as Error).message}`),
      );
    }),
  );
}
