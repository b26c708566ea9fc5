import type { DispatchMode } from '../config/types';
import type { CollectorOutcome, CollectorStatus } from '../dispatch/types';
import type { TriggerKind, TriggerSource } from '../execution/trigger';
import type { BackfillInfo } from '../schedule/run-plan';
import { isoTime, secondsBetween } from '../util/clock';
import { redact } from '../util/secrets';

/** 1 was the original Python design's report; 2 keeps its keys and adds the ones marked below. */
export const REPORT_SCHEMA_VERSION = 2;

export interface CollectorReport {
  status: CollectorStatus;
  http_status: number | null;
  error: string | null;
  /** 'Timeout' for timeouts, as in the original. */
  error_type: string | null;
  start_time: string | null;
  end_time: string | null;
  duration_seconds: number | null;
  result: unknown;
  // Added in schema 2:
  attempts: number;
  reason?: string;
  manifest?: unknown;
  [extra: string]: unknown;
}

export interface ExecutionReport {
  start_time: string;
  end_time: string;
  duration_seconds: number;
  collectors: Record<string, CollectorReport>;
  summary: {
    total: number;
    succeeded: number;
    failed: number;
    skipped: number;
    scheduled: number;
    running: number;
    /** Succeeded collectors some of whose units of work failed (counted in `succeeded` too); only when > 0. */
    partial?: number;
    /** Only when a signal stopped the execution (collectors reported `cancelled`). */
    cancelled?: number;
  };
  // Added in schema 2:
  schema_version: number;
  execution_id: string;
  trigger: {
    source: TriggerSource;
    kind: TriggerKind;
    scheduled_time: string;
    job_name: string | null;
    forced: boolean;
    /** A backfill's collector, range and progress. */
    backfill?: BackfillInfo;
  };
  mode: DispatchMode;
  warnings: string[];
}

export interface ReportInput {
  executionId: string;
  startMs: number;
  endMs: number;
  mode: DispatchMode;
  trigger: ExecutionReport['trigger'];
  outcomes: readonly CollectorOutcome[];
  warnings?: string[];
}

/**
 * The collector of a report entry: its key, or the part before `@` for a collector with several runs
 * in one execution (catch-up, backfill), keyed `name@<scheduled time>` (names never hold `@`).
 */
export function collectorOfKey(key: string): string {
  const at = key.indexOf('@');
  return at < 0 ? key : key.slice(0, at);
}

export function buildReport(input: ReportInput): ExecutionReport {
  const collectors: Record<string, CollectorReport> = {};
  for (const o of input.outcomes) collectors[o.name] = collectorReport(o);
  const report: ExecutionReport = {
    schema_version: REPORT_SCHEMA_VERSION,
    execution_id: input.executionId,
    start_time: isoTime(input.startMs),
    end_time: isoTime(input.endMs),
    duration_seconds: secondsBetween(input.startMs, input.endMs),
    trigger: input.trigger,
    mode: input.mode,
    collectors,
    summary: summarise(collectors),
    warnings: input.warnings ?? [],
  };
  // Nothing secret leaves through a report, whatever a collector put in its summary.
  return redact(report) as ExecutionReport;
}

export function collectorReport(o: CollectorOutcome): CollectorReport {
  return {
    status: o.status,
    http_status: o.httpStatus,
    error: o.error,
    error_type: o.errorType,
    start_time: o.startMs === null ? null : isoTime(o.startMs),
    end_time: o.endMs === null ? null : isoTime(o.endMs),
    duration_seconds: o.startMs === null || o.endMs === null ? null : secondsBetween(o.startMs, o.endMs),
    result: o.result ?? null,
    attempts: o.attempts,
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.manifest ? { manifest: o.manifest } : {}),
    ...partialFields(o.status, o.result),
    ...(o.extra ?? {}),
  };
}

/**
 * A run that succeeded with some of its units of work failed keeps `status: success` (what readers of the
 * original reports check) and adds `partial: true` and the unit counts; the failed units and their
 * reasons are in `result.units.failures` and the manifest.
 */
export function partialFields(status: string, result: unknown): { partial?: true; units?: unknown } {
  const units = (
    result as { units?: { total?: unknown; succeeded?: unknown; skipped?: unknown; failed?: unknown } } | null
  )?.units;
  if (status !== 'success' || !units || typeof units.failed !== 'number' || units.failed === 0) return {};
  return {
    partial: true,
    units: { total: units.total, succeeded: units.succeeded, skipped: units.skipped, failed: units.failed },
  };
}

export function summarise(collectors: Record<string, CollectorReport>): ExecutionReport['summary'] {
  const all = Object.values(collectors);
  const count = (s: CollectorStatus) => all.filter((c) => c.status === s).length;
  const partial = all.filter((c) => c.status === 'success' && c['partial'] === true).length;
  const cancelled = count('cancelled');
  return {
    total: all.length,
    succeeded: count('success'),
    failed: count('failed'),
    skipped: count('skipped'),
    scheduled: count('scheduled'),
    running: count('running'),
    ...(partial > 0 ? { partial } : {}),
    ...(cancelled > 0 ? { cancelled } : {}),
  };
}

/**
 * 200 when nothing failed, 207 when some failed, 500 when collectors ran and none succeeded; 503 when
 * a signal cancelled collectors (the instance is stopping: Cloud Scheduler may retry elsewhere).
 */
export function httpStatusFor(report: ExecutionReport): number {
  const s = report.summary;
  if ((s.cancelled ?? 0) > 0) return 503;
  if (s.failed === 0) return 200;
  return s.succeeded + s.scheduled + s.running > 0 ? 207 : 500;
}
