import type { BackfillOverlapPolicy } from '../config/scheduling';
import type { CollectorConfig } from '../config/types';
import type { CollectorOutcome } from '../dispatch/types';
import { compactTime } from '../runtime/output';
import type { KnownWatermark } from './run-claims';

/** The runs of one execution and their helpers, shared by runs.ts and backfill.ts. */

/** What a run is for: the execution's own trigger, a missed time made up, or a backfilled time. */
export const RUN_KINDS = ['tick', 'explicit', 'manual', 'catchup', 'backfill'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

export interface PlannedRun {
  collector: CollectorConfig;
  scheduledTimeMs: number;
  kind: RunKind;
  /** Not before the execution's start plus this (jitter; a backfill task's spacing). */
  delayMs: number;
  /** The part of `delayMs` that is jitter, for the report. */
  jitterMs: number;
  /** A backfill's own overlap policy, which travels in the payload. */
  overlap?: BackfillOverlapPolicy;
  /** Mixed into the Cloud Task's name, so a backfill's tasks never collide with the ticks' ones. */
  taskKey?: string;
}

/** A run decided without dispatch, with how it ends. */
export interface DecidedRun {
  run: PlannedRun;
  outcome: CollectorOutcome;
}

export interface RunPlan {
  runs: PlannedRun[];
  decided: DecidedRun[];
  backfill: BackfillInfo | null;
  /** What could not be looked at (the state store down): for the report. */
  warnings: string[];
  /** The watermarks the tick read, by collector (written back without reading them again). */
  watermarks: ReadonlyMap<string, KnownWatermark>;
}

export interface AdmittedRun extends PlannedRun {
  /** The payload's executionId: the execution's own, or `<execution>.<time>` for catch-up and backfill. */
  runId: string;
  release: (() => Promise<void>) | null;
}

export interface AdmittedRuns {
  runs: AdmittedRun[];
  decided: DecidedRun[];
  backfill: BackfillInfo | null;
  warnings: string[];
  watermarks: ReadonlyMap<string, KnownWatermark>;
  /** Gives back what the execution holds (a backfill's lease); always called. */
  done(): Promise<void>;
}

/** The payload's execution id of a run: its own for catch-up and backfill, whose runs it also holds. */
export function runIdFor(executionId: string, run: Pick<PlannedRun, 'kind' | 'scheduledTimeMs'>): string {
  return run.kind === 'catchup' || run.kind === 'backfill'
    ? `${executionId}.${compactTime(new Date(run.scheduledTimeMs))}`
    : executionId;
}

export function planned(collector: CollectorConfig, scheduledTimeMs: number, kind: RunKind): PlannedRun {
  return { collector, scheduledTimeMs, kind, delayMs: 0, jitterMs: 0 };
}

export function skipped(
  collector: CollectorConfig,
  reason: string,
  details: { error: string; extra?: Record<string, unknown> },
): CollectorOutcome {
  return {
    name: collector.name,
    status: 'skipped',
    httpStatus: null,
    error: details.error,
    errorType: null,
    startMs: null,
    endMs: null,
    attempts: 0,
    result: null,
    reason,
    ...(details.extra ? { extra: details.extra } : {}),
  };
}

/** Nothing reached the collector: not sent (deadline, auth), or the Cloud Task was not created. */
export function neverStarted(o: CollectorOutcome): boolean {
  return (o.status === 'failed' || o.status === 'cancelled') && o.attempts === 0 && o.startMs === null;
}

export interface BackfillAsk {
  collector: string;
  fromMs: number;
  toMs: number;
  overlap: BackfillOverlapPolicy;
}

/** What the report says about the backfill (under `trigger.backfill`). */
export interface BackfillInfo {
  id: string;
  collector: string;
  from: string;
  to: string;
  overlap: BackfillOverlapPolicy;
  /** Scheduled times in the range. */
  times: number;
  /** Done before this call. */
  done_before: number;
  /** Still to run after this call (a next call of the same backfill resumes them). */
  remaining: number;
}
