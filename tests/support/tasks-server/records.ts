import type { TaskMessage, TasksRequestMessage } from './messages';
import type { TasksClock } from './time';

export const TASK_STATES = ['scheduled', 'dispatching', 'succeeded', 'failed', 'deleted'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const ATTEMPT_OUTCOMES = [
  'in-flight',
  'success',
  'http-error',
  'timeout',
  'connection-error',
  'cancelled',
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export interface AttemptRecord {
  /** Full task name. */
  taskName: string;
  /** Full queue name. */
  queue: string;
  /** 1-based. */
  attempt: number;
  outcome: AttemptOutcome;
  /** HTTP status, null when no response arrived (yet). */
  status: number | null;
  /** `clock.now()` when the request was started / when it ended (for a timeout: when the deadline fired). */
  startedAt: number;
  endedAt: number | null;
  /** e.g. `DEADLINE_EXCEEDED: ...`, `UNAVAILABLE: connect ECONNREFUSED ...`, `HTTP 503`. */
  error: string | null;
  /** Nominal delay before the next attempt (unscaled ms), null when none follows. */
  backoffMs: number | null;
  /** Forced by RunTask. */
  forced: boolean;
  /** What was sent (the URL after `routeUrl`). */
  request: { url: string; method: string; headers: Record<string, string>; body: Buffer };
  /** The start of the response body (up to 4 KiB). */
  responseBody: string | null;
}

export interface TaskRecord {
  name: string;
  /** The short task ID (what X-CloudTasks-TaskName carries). */
  id: string;
  queue: string;
  state: TaskState;
  /** The stored task (FULL view), kept up to date (dispatchCount, lastAttempt...). */
  task: TaskMessage;
  createdAt: number;
  finishedAt: number | null;
  attempts: AttemptRecord[];
}

export interface GrpcCallRecord {
  /** e.g. `CreateTask`. */
  method: string;
  request: TasksRequestMessage;
  metadata: Record<string, string>;
  at: number;
  /** The gRPC status code answered (0 = OK). */
  code: number;
  details: string | null;
}

/** Queue settings in test-friendly units; every one optional (Cloud Tasks defaults apply). */
export interface QueueSettings {
  maxConcurrentDispatches?: number;
  maxDispatchesPerSecond?: number;
  /** -1 = unlimited. */
  maxAttempts?: number;
  minBackoffSeconds?: number;
  maxBackoffSeconds?: number;
  maxDoublings?: number;
  /** 0 = unlimited. */
  maxRetryDurationSeconds?: number;
  paused?: boolean;
}

export interface TasksServerOptions {
  /** For `queuePath()` and the helpers taking a short queue ID. @default GOOGLE_CLOUD_PROJECT or 'test-project' */
  project?: string;
  /** @default 'us-central1' */
  location?: string;
  /** Queues created at start, by ID (or full name). */
  queues?: Record<string, QueueSettings>;
  /** Create a missing queue on CreateTask (with these settings when an object) instead of NOT_FOUND. */
  autoCreateQueues?: boolean | QueueSettings;
  /** Time source and timers. @default realClock */
  clock?: TasksClock;
  /** Multiplies every wait handed to the clock (scheduleTime, backoff, deadline, rate limit). @default 1 */
  timeScale?: number;
  /** How long a finished or deleted task's name stays reserved, in clock time. @default 3600 (1 h) */
  tombstoneSeconds?: number;
  /** How long a deleted queue's name stays reserved. @default 7 days */
  queueTombstoneSeconds?: number;
  /** Rewrites a task's URL before dispatch (e.g. a production URL to a loopback server). */
  routeUrl?: (url: URL) => string | URL;
  /** Dispatch to non-loopback hosts too. @default false: such an attempt fails without a request. */
  allowNonLoopbackTargets?: boolean;
  /**
   * Makes the OIDC token of an `oidcToken` task (a test's own signing key, for a target that verifies
   * signatures). @default mintIdToken: unsigned, for targets that only read the claims
   */
  oidcToken?: (audience: string, email: string | undefined) => string;
  /** Default real-time limit of `waitFor*`. @default 20000 */
  waitTimeoutMs?: number;
  /**
   * Real milliseconds before each gRPC call is answered (a server farther than loopback), so that calls
   * overlap and `maxCallsInFlight` measures a client's concurrency. @default 0
   */
  answerDelayMs?: number;
}

export interface WaitOptions {
  /** Real milliseconds before the wait rejects with a description of the server's state. */
  timeoutMs?: number;
  /** Named in the timeout error. */
  description?: string;
}

/** Cloud Tasks' defaults for a queue created without settings (documented in the RateLimits/RetryConfig docs). */
export const QUEUE_DEFAULTS = Object.freeze({
  maxDispatchesPerSecond: 500,
  maxBurstSize: 100,
  maxConcurrentDispatches: 1000,
  maxAttempts: 100,
  minBackoffMs: 100,
  maxBackoffMs: 3_600_000,
  maxDoublings: 16,
  maxRetryDurationMs: 0,
});
/** HTTP tasks: default deadline 10 min, allowed [15 s, 30 min]. */
export const DISPATCH_DEADLINE_MS = Object.freeze({ default: 600_000, min: 15_000, max: 1_800_000 });
export const SCHEDULE_HORIZON_MS = 30 * 24 * 3600_000;
export const MAX_TASK_BYTES = 1024 * 1024;
export const QUEUE_NOT_FOUND =
  'Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize.';
export const TASK_NOT_FOUND = 'Requested entity was not found.';
export const TASK_GONE =
  'The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted.';

export const QUEUE_NAME = /^projects\/([A-Za-z0-9.:-]+)\/locations\/([A-Za-z0-9-]+)\/queues\/([^/]+)$/;
export const QUEUE_ID = /^[A-Za-z0-9-]{1,100}$/;
export const TASK_NAME =
  /^(projects\/[A-Za-z0-9.:-]+\/locations\/[A-Za-z0-9-]+\/queues\/[A-Za-z0-9-]+)\/tasks\/(.+)$/;
export const TASK_ID = /^[A-Za-z0-9_-]{1,500}$/;

/**
 * Delay before retry number `retry` (0 = the one after the first failed attempt), in ms: minBackoff
 * doubled `maxDoublings` times, then growing linearly by that last step, capped at maxBackoff (the
 * RetryConfig docs' example: 10 s, 300 s, 3 doublings gives 10, 20, 40, 80, 160, 240, 300, 300...).
 */
export function cloudTasksBackoffMs(
  retry: number,
  config: { minBackoffMs: number; maxBackoffMs: number; maxDoublings: number },
): number {
  const { minBackoffMs, maxBackoffMs, maxDoublings } = config;
  const delay =
    retry <= maxDoublings
      ? minBackoffMs * 2 ** retry
      : minBackoffMs * 2 ** maxDoublings * (retry - maxDoublings + 1);
  return Math.min(maxBackoffMs, delay);
}
