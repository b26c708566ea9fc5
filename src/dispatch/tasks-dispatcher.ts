import type { protos } from '@google-cloud/tasks';
import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import type { Config } from '../config/types';
import { errorMessage } from '../errors';
import type { HeaderProvider } from '../auth/types';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { tasksClient, tasksEndpoint, type TasksApi } from '../tasks/client';
import { dispatchDeadline, queueIdFor, queuePath, taskIdFor } from '../tasks/naming';
import { buildTask, isLoopbackUrl } from '../tasks/task-request';
import { redactUrl } from '../util/url';
import { scrub } from '../util/secrets';
import {
  safeListener,
  type CollectorOutcome,
  type DispatchOptions,
  type Dispatcher,
  type DispatchTarget,
  type ProgressListener,
} from './types';
import { createTask, failed, type Settled } from './task-create';

/**
 * CreateTask calls in flight at once, on one multiplexed gRPC channel. The client's own CPU per call
 * (grpc-js and gax, ~0.3–0.8 ms here) caps what more concurrency buys: with a 5 ms server, 16 keep the
 * client just short of CPU-bound (bench/tasks.js); against Cloud Tasks itself (tens of ms per call) 1,000
 * tasks still take a few seconds.
 * @default 16
 */
export const TASK_CREATE_CONCURRENCY = 16;
/**
 * Tries per task when Cloud Tasks answers UNAVAILABLE or DEADLINE_EXCEEDED (the client's own retry is
 * off: CreateTask has none by default, and a trigger must finish well inside Cloud Scheduler's deadline).
 * @default 3
 */
export const TASK_CREATE_ATTEMPTS = 3;
/**
 * The gRPC deadline of one CreateTask call.
 * @default 10 s
 */
export const TASK_CREATE_TIMEOUT_MS = 10_000;
/**
 * The wait before the second try; it doubles for each further one (with full jitter).
 * @default 250 ms
 */
export const TASK_CREATE_BACKOFF_MS = 250;

export interface TasksDispatcherOptions {
  concurrency?: number;
  attempts?: number;
  attemptTimeoutMs?: number;
  backoffMs?: number;
  /** The client; by default one per endpoint (CLOUD_TASKS_EMULATOR_HOST or Cloud Tasks). */
  client?: () => Promise<TasksApi>;
}

/** What the tasks dispatcher uses, and nothing more. */
export interface TasksDispatcherDeps {
  config: Config;
  clock: Clock;
  logger: Logger;
  /** Where CLOUD_TASKS_EMULATOR_HOST is read. */
  env: Readonly<Record<string, string | undefined>>;
  /** The OIDC token settings of each task come from here (task-request.ts). */
  auth: HeaderProvider;
  /** For backoff jitter. */
  random: () => number;
}

/**
 * Tasks mode: one Cloud Task per collector, and no waiting for the runs. Cloud Tasks delivers each run
 * (POST of the dispatch payload, with an OIDC token for the collector's URL), retries it on a non-2xx
 * and rate-limits it; the collectors report how each run ended in run records (report/merge.ts).
 *
 * The task ID is derived from (collector, scheduled time), so a repeated trigger is refused by Cloud
 * Tasks itself: that collector is reported `scheduled` with `duplicate: true`, not failed.
 */
export function createTasksDispatcher(
  services: TasksDispatcherDeps,
  options: TasksDispatcherOptions = {},
): Dispatcher {
  return new TasksDispatcher(services, options);
}

class TasksDispatcher implements Dispatcher {
  private readonly concurrency: number;
  /** The CreateTask policy. */
  private readonly create: { attempts: number; attemptTimeoutMs: number; backoffMs: number };
  private readonly emulator: string | null;
  private readonly client: () => Promise<TasksApi>;

  constructor(
    private readonly deps: TasksDispatcherDeps,
    options: TasksDispatcherOptions,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? TASK_CREATE_CONCURRENCY);
    this.create = {
      attempts: Math.max(1, options.attempts ?? TASK_CREATE_ATTEMPTS),
      attemptTimeoutMs: options.attemptTimeoutMs ?? TASK_CREATE_TIMEOUT_MS,
      backoffMs: options.backoffMs ?? TASK_CREATE_BACKOFF_MS,
    };
    const endpoint = tasksEndpoint(deps.env);
    this.emulator = endpoint.emulator;
    this.client = options.client ?? (() => tasksClient(endpoint));
  }

  async dispatch(targets: readonly DispatchTarget[], options: DispatchOptions): Promise<CollectorOutcome[]> {
    const emit = safeListener(options.onProgress);
    const settle = (target: DispatchTarget, outcome: Settled, attempts: number): CollectorOutcome => {
      const done = this.outcome(target, outcome, attempts);
      emit({ type: 'finish', outcome: done });
      return done;
    };
    if (targets.length === 0) return [];
    const problem = configProblem(this.deps.config);
    if (problem) return targets.map((t) => settle(t, failed(problem), 0));
    let client: TasksApi;
    try {
      client = await this.client();
    } catch (error) {
      const why = `Cloud Tasks client unavailable: ${errorMessage(error)}`;
      return targets.map((t) => settle(t, { ...failed(why), errorType: 'AuthError' }, 0));
    }
    const limit = pLimit(this.concurrency);
    // Every call in flight listens for the deadline: on a signal of our own, so that raising its
    // listener limit (Node warns past 10) touches nothing of the caller's.
    const deadline = new AbortController();
    setMaxListeners(this.concurrency + 10, deadline.signal);
    const forward = () => deadline.abort(options.signal.reason);
    if (options.signal.aborted) forward();
    else options.signal.addEventListener('abort', forward, { once: true });
    try {
      return await Promise.all(
        targets.map((target) =>
          limit(async () => {
            const { outcome, calls } = await this.enqueue(
              client,
              target,
              deadline.signal,
              emit,
              options.force === true,
            ).catch((error: unknown) => ({
              // Only a bug gets here; it still becomes this collector's outcome and nobody else's.
              outcome: { ...failed(`internal error: ${errorMessage(error)}`), errorType: 'InternalError' },
              calls: 0,
            }));
            return settle(target, outcome, calls);
          }),
        ),
      );
    } finally {
      options.signal.removeEventListener('abort', forward);
    }
  }

  private async enqueue(
    client: TasksApi,
    target: DispatchTarget,
    deadline: AbortSignal,
    emit: ProgressListener,
    force: boolean,
  ): Promise<{ outcome: Settled; calls: number }> {
    const { config, logger } = this.deps;
    const tasks = config.scheduler.tasks;
    const queue = queueIdFor(config, { name: target.name, group: target.group, queue: target.queue });
    const parent = queuePath(tasks.project!, tasks.location!, queue);
    const name = `${parent}/tasks/${taskIdFor(target.name, target.payload.scheduledTime, force ? target.payload.executionId : target.taskKey)}`;
    const limits = dispatchDeadline(target.timeoutMs);
    const extra: Record<string, unknown> = {
      task_name: name,
      queue,
      task_max_attempts: tasks.maxAttempts,
      dispatch_deadline_seconds: limits.seconds,
    };
    if (limits.warning) {
      logger.warn(`${target.name}: ${limits.warning}`, { collector: target.name });
      extra['warning'] = limits.warning;
    }
    if (!this.emulator && isLoopbackUrl(target.url)) {
      return {
        outcome: {
          ...failed(
            `Cloud Tasks cannot reach ${redactUrl(target.url)} (this machine): give collectors.${target.name}.url its public URL`,
          ),
          extra,
        },
        calls: 0,
      };
    }
    let task: protos.google.cloud.tasks.v2.ITask;
    try {
      task = await buildTask(target, name, limits.seconds, this.deps);
    } catch (error) {
      return { outcome: { ...failed(errorMessage(error)), errorType: 'AuthError', extra }, calls: 0 };
    }
    if (target.delayMs) {
      // Jitter or a backfill's spacing: Cloud Tasks holds the task until then.
      const at = this.deps.clock.now() + target.delayMs;
      task.scheduleTime = { seconds: Math.floor(at / 1000), nanos: (at % 1000) * 1_000_000 };
      extra['schedule_time'] = new Date(at).toISOString();
    }

    return createTask(
      { client, clock: this.deps.clock, random: this.deps.random, logger: this.deps.logger, ...this.create },
      { parent, task, name, queue, extra },
      target,
      deadline,
      emit,
    );
  }

  private outcome(target: DispatchTarget, partial: Settled, calls: number): CollectorOutcome {
    return {
      name: target.name,
      status: partial.status,
      httpStatus: partial.httpStatus ?? null,
      error: partial.error === null ? null : scrub(partial.error),
      errorType: partial.errorType,
      // Nothing has run yet: timings and attempts come from the run records once it does.
      startMs: null,
      endMs: null,
      attempts: 0,
      result: partial.result ?? null,
      extra: { ...partial.extra, ...(calls > 1 ? { create_calls: calls } : {}) },
    };
  }
}

/** What tasks mode needs from the config (normalise.ts checks it when mode is tasks; `--mode` may not). */
function configProblem(config: Config): string | null {
  const t = config.scheduler.tasks;
  const missing = [
    t.project ? null : 'scheduler.tasks.project',
    t.location ? null : 'scheduler.tasks.location',
    t.serviceAccountEmail || config.scheduler.auth.type === 'bearer'
      ? null
      : 'scheduler.tasks.service_account_email',
  ].filter((k): k is string => k !== null);
  return missing.length === 0 ? null : `tasks mode needs ${missing.join(', ')} in ${config.source}`;
}

export { EXECUTION_ID_HEADER } from '../tasks/task-request';
