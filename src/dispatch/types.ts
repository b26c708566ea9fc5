import { errorMessage } from '../errors';
import { isCancellation } from '../util/cancel';
import type { RetryPolicy } from '../config/types';
import type { DispatchPayload } from '../runtime/payload';

/** `cancelled`: a signal (Ctrl-C, Cloud Run's SIGTERM) stopped the execution while it ran. */
export const COLLECTOR_STATUSES = [
  'success',
  'failed',
  'scheduled',
  'skipped',
  'running',
  'cancelled',
] as const;
export type CollectorStatus = (typeof COLLECTOR_STATUSES)[number];

export interface DispatchTarget {
  name: string;
  url: string;
  payload: DispatchPayload;
  timeoutMs: number;
  retry: RetryPolicy;
  group: string | null;
  /** How long a group member waits for its group's lease before it is skipped (group_busy). */
  groupWaitMs: number;
  queue: string | null;
  /** Not before the execution's start plus this: jitter, a backfill task's spacing (tasks: its scheduleTime). */
  delayMs?: number;
  /** Mixed into the Cloud Task's name (a backfill's), so it never collides with a tick's task. */
  taskKey?: string;
  /** Targets of one lane run one after another (default: the group, else the collector's name). */
  lane?: string;
}

/** How one collector's dispatch ended, before it becomes a report entry. */
export interface CollectorOutcome {
  name: string;
  status: CollectorStatus;
  httpStatus: number | null;
  error: string | null;
  errorType: string | null;
  startMs: number | null;
  endMs: number | null;
  attempts: number;
  /** The collector's JSON summary. */
  result: unknown;
  /** Why it was skipped (e.g. group_busy, missing_credentials). */
  reason?: string;
  manifest?: unknown;
  /** Anything else worth a report field (duplicate task, lease holder, task name). */
  extra?: Record<string, unknown>;
}

export type ProgressEvent =
  | { type: 'start'; name: string; attempt: number; url: string }
  | { type: 'retry'; name: string; attempt: number; delayMs: number; reason: string }
  | { type: 'finish'; outcome: CollectorOutcome };

export type ProgressListener = (event: ProgressEvent) => void;

export interface DispatchOptions {
  /** Aborted at the execution's deadline, or with a CancelledError when a signal stops it. */
  signal: AbortSignal;
  /** When `signal` aborts, on the clock: no retry waits past it. */
  deadlineAtMs?: number;
  /** A forced re-run of a tick: Cloud Tasks must not refuse it as a repeat. */
  force?: boolean;
  onProgress?: ProgressListener;
  /**
   * HTTP mode: called in a target's lane just before it is sent; an outcome instead of null settles the
   * target without sending it (schedule/gate.ts: jitter, overlap policy, a backfill run that no longer
   * fits before the deadline).
   */
  beforeDispatch?: (target: DispatchTarget, signal: AbortSignal) => Promise<Partial<CollectorOutcome> | null>;
}

export interface Dispatcher {
  dispatch(targets: readonly DispatchTarget[], options: DispatchOptions): Promise<CollectorOutcome[]>;
}

/** A progress listener that can never throw into the fan-out. */
export function safeListener(listener: ProgressListener | undefined): ProgressListener {
  return (event) => {
    try {
      listener?.(event);
    } catch {
      // Reporting progress is never worth failing a collector.
    }
  };
}

/** How a collector whose dispatch was aborted ends: timed out at the deadline, or cancelled by a signal. */
export function abortedOutcome(
  reason: unknown,
  suffix = '',
): Pick<CollectorOutcome, 'status' | 'error' | 'errorType'> {
  const error = `${errorMessage(reason)}${suffix}`;
  return isCancellation(reason)
    ? { status: 'cancelled', error, errorType: 'Cancelled' }
    : { status: 'failed', error, errorType: 'Timeout' };
}
