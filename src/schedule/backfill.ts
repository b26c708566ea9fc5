import { createHash } from 'node:crypto';
import type { CollectorConfig, Config, DispatchMode } from '../config/types';
import type { CollectorOutcome } from '../dispatch/types';
import { RequestError, SchedulerError } from '../errors';
import { DEFAULT_LEASE_TTL_MS, LeaseManager } from '../lease/lease';
import { isPreconditionFailed, putJson, readJson, type ObjectStore } from '../store/types';
import type { Services } from '../services';
import { compileSchedule } from './cron';
import { describePause, pauseFor, type PauseRecord } from './pause';
import {
  neverStarted,
  planned,
  runIdFor,
  skipped,
  type AdmittedRuns,
  type DecidedRun,
  type PlannedRun,
  type BackfillAsk,
  type BackfillInfo,
  type RunPlan,
} from './run-plan';

/**
 * Backfill: a collector run once per scheduled time of its cron in a past range, each run with its own
 * scheduled time (so a T-1 collector fetches each day of the range). The same backfill (collector and
 * range) asked again adds nothing: its progress, `<state>/schedule/backfills/<collector>/<id>.json`,
 * lists each time's outcome, and a lease on it keeps two calls from running it at once.
 *
 * HTTP mode runs the times one after another within the execution's deadline (a run is not started
 * when its timeout no longer fits) and the next call of the same backfill resumes with what is left.
 * Tasks mode creates one task per time, their schedule times spread out (one timeout apart for
 * `buffer_all`, `scheduler.backfill.spacing_seconds` for `allow_all`), named from (collector, time,
 * backfill) so that Cloud Tasks refuses a repeat by itself too.
 */
export type { BackfillAsk, BackfillInfo } from './run-plan';

interface Progress {
  id: string;
  collector: string;
  from: string;
  to: string;
  times: Record<string, { status: string; execution_id: string; run_id: string; at: string }>;
}

/** A second call of a backfill while the first still runs it. */
export class BackfillBusyError extends SchedulerError {
  constructor(id: string, holder: string) {
    super(
      'BACKFILL_BUSY',
      `backfill ${id} is being run by execution ${holder}; nothing was started (call again once it ends to resume what is left)`,
      { details: { execution_id: holder } },
    );
    this.name = 'BackfillBusyError';
  }
}

/** The backfill's identity: collector and range (not the overlap policy: same times, same backfill). */
export function backfillId(ask: Pick<BackfillAsk, 'collector' | 'fromMs' | 'toMs'>): string {
  const key = `${ask.collector}\n${new Date(ask.fromMs).toISOString()}\n${new Date(ask.toMs).toISOString()}`;
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * The scheduled times a backfill runs, from `from` to `to` inclusive, or a clear error: an unknown,
 * disabled, unscheduled or paused collector, a range that is empty, reversed, reaches into the future
 * or is longer than `scheduler.backfill` allows.
 */
export function backfillTimes(
  config: Config,
  pauses: readonly PauseRecord[],
  ask: BackfillAsk,
  nowMs: number,
): { collector: CollectorConfig; times: number[] } {
  const collector = config.collectors.find((c) => c.name === ask.collector);
  if (!collector) throw new RequestError(`unknown collector "${ask.collector}"`, {}, 'COLLECTOR_UNKNOWN');
  const iso = (ms: number) => new Date(ms).toISOString();
  const bad = (message: string) =>
    new RequestError(`backfill of ${collector.name}: ${message}; nothing was run`);
  if (!collector.enabled) throw bad('the collector is disabled (enabled: false)');
  if (collector.schedule === null) throw bad('the collector has no schedule, so no scheduled times to run');
  const pause = pauseFor(pauses, collector);
  if (pause) throw bad(`the collector is ${describePause(pause)}; resume it first`);
  if (!(ask.fromMs < ask.toMs)) throw bad(`from (${iso(ask.fromMs)}) must be before to (${iso(ask.toMs)})`);
  if (ask.toMs > nowMs)
    throw bad(`to (${iso(ask.toMs)}) is in the future (now ${iso(nowMs)}); a backfill runs past times only`);
  const limits = config.scheduler.backfill;
  const days = (ask.toMs - ask.fromMs) / 86_400_000;
  if (days > limits.maxRangeDays)
    throw bad(
      `the range is ${days.toFixed(1)} days, longer than scheduler.backfill.max_range_days (${limits.maxRangeDays})`,
    );
  const times = compileSchedule(collector.schedule, config.timezone).runsBetween(
    ask.fromMs,
    ask.toMs + 1,
    limits.maxRuns + 1,
  );
  if (times.length === 0)
    throw bad(
      `"${collector.schedule}" (${config.timezone}) has no scheduled time between ${iso(ask.fromMs)} and ${iso(ask.toMs)}`,
    );
  if (times.length > limits.maxRuns)
    throw bad(
      `the range holds more than scheduler.backfill.max_runs (${limits.maxRuns}) scheduled times; split it`,
    );
  return { collector, times };
}

type Deps = Pick<Services, 'config' | 'clock' | 'stores' | 'leases' | 'logger'>;

/** The backfill's runs, its times already done held back as skipped (`already_backfilled`). */
export async function planBackfillRuns(
  services: Deps,
  ask: BackfillAsk,
  pauses: readonly PauseRecord[],
  mode: DispatchMode,
): Promise<RunPlan> {
  const { collector, times } = backfillTimes(services.config, pauses, ask, services.clock.now());
  const id = backfillId(ask);
  const progress = await readProgress(services.stores.state, collector.name, id);
  const all = times.map((t) => ({
    ...planned(collector, t, 'backfill'),
    overlap: ask.overlap,
    taskKey: `backfill:${id}`,
  }));
  const { runs, decided } = split(all, progress);
  const info: BackfillInfo = {
    id,
    collector: collector.name,
    from: new Date(ask.fromMs).toISOString(),
    to: new Date(ask.toMs).toISOString(),
    overlap: ask.overlap,
    times: times.length,
    done_before: decided.length,
    remaining: runs.length,
  };
  return {
    runs: spaced(runs, mode, services.config),
    decided,
    backfill: info,
    warnings: [],
    watermarks: new Map(),
  };
}

/** Holds the backfill's lease for the execution and re-reads its progress under it. */
export async function admitBackfill(
  services: Deps,
  plan: RunPlan,
  executionId: string,
  mode: DispatchMode,
): Promise<AdmittedRuns> {
  const info = plan.backfill!;
  const lease = await services.leases.tryAcquire(
    `backfill-${info.collector}-${info.id}`,
    LeaseManager.holderId(executionId, info.collector),
    DEFAULT_LEASE_TTL_MS,
  );
  if (!lease.acquired) throw new BackfillBusyError(info.id, lease.holder.executionId);
  try {
    const progress = await readProgress(services.stores.state, info.collector, info.id);
    const { runs, decided } = split(plan.runs, progress);
    return {
      runs: spaced(runs, mode, services.config).map((r) => ({
        ...r,
        runId: runIdFor(executionId, r),
        release: null,
      })),
      decided: [...plan.decided, ...decided],
      backfill: { ...info, done_before: info.times - runs.length },
      warnings: plan.warnings,
      watermarks: plan.watermarks,
      done: () => lease.lease.release(),
    };
  } catch (error) {
    await lease.lease.release();
    throw error;
  }
}

/** Records each dispatched time's outcome; times not started stay for the next call. */
export async function settleBackfill(
  services: Deps,
  admitted: AdmittedRuns,
  outcomes: readonly CollectorOutcome[],
  executionId: string,
  nowMs: number,
): Promise<void> {
  const info = admitted.backfill!;
  const done: Progress['times'] = {};
  admitted.runs.forEach((run, i) => {
    const o = outcomes[i]!;
    if (neverStarted(o) || o.reason === 'not_started') return;
    done[new Date(run.scheduledTimeMs).toISOString()] = {
      status: o.status,
      execution_id: executionId,
      run_id: run.runId,
      at: new Date(nowMs).toISOString(),
    };
  });
  const state = services.stores.state;
  const key = progressKey(info.collector, info.id);
  for (let tries = 0; tries < 5; tries++) {
    const current = await readJson<Progress>(state, key);
    const next: Progress = {
      id: info.id,
      collector: info.collector,
      from: info.from,
      to: info.to,
      times: { ...current?.value.times, ...done },
    };
    try {
      await putJson(state, key, next, { ifGenerationMatch: current?.generation ?? 0 });
      info.remaining = info.times - Object.keys(next.times).length;
      return;
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
    }
  }
}

function split(all: PlannedRun[], progress: Progress | null): { runs: PlannedRun[]; decided: DecidedRun[] } {
  const runs: PlannedRun[] = [];
  const decided: DecidedRun[] = [];
  for (const run of all) {
    const done = progress?.times[new Date(run.scheduledTimeMs).toISOString()];
    if (!done) {
      runs.push(run);
      continue;
    }
    decided.push({
      run,
      outcome: skipped(run.collector, 'already_backfilled', {
        error: `already run by this backfill (execution ${done.execution_id}: ${done.status})`,
        extra: { backfilled_by: done.execution_id, previous_status: done.status, run_id: done.run_id },
      }),
    });
  }
  return { runs, decided };
}

/** Tasks mode: schedule times one timeout apart (buffer_all) or `spacing_seconds` apart (allow_all). */
function spaced(runs: PlannedRun[], mode: DispatchMode, config: Config): PlannedRun[] {
  if (mode !== 'tasks') return runs.map((r) => ({ ...r, delayMs: 0 }));
  return runs.map((r, i) => {
    const gapSeconds =
      r.overlap === 'allow_all' ? config.scheduler.backfill.spacingSeconds : r.collector.timeoutSeconds;
    return { ...r, delayMs: i * gapSeconds * 1000 };
  });
}

function progressKey(collector: string, id: string): string {
  return `schedule/backfills/${collector}/${id}.json`;
}

async function readProgress(state: ObjectStore, collector: string, id: string): Promise<Progress | null> {
  return (await readJson<Progress>(state, progressKey(collector, id)))?.value ?? null;
}
