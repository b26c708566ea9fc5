import type { protos } from '@google-cloud/tasks';
import type { TasksApi } from '../tasks/client';
import { describeRpcError, hintFor, isAlreadyExists, isRetryableRpc, rpcCode } from '../tasks/rpc-errors';
import { creatorOf } from '../tasks/task-request';
import { untilAborted } from '../util/abort';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { retryResult } from '../util/retry';
import { abortedOutcome, type CollectorOutcome, type DispatchTarget, type ProgressListener } from './types';

/** A collector's outcome before its name, timings and attempts are added. */
export type Settled = Omit<
  CollectorOutcome,
  'name' | 'startMs' | 'endMs' | 'attempts' | 'httpStatus' | 'result'
> &
  Partial<Pick<CollectorOutcome, 'httpStatus' | 'result'>>;

/** What creating one task uses: the client, and the CreateTask policy (tasks-dispatcher.ts defaults). */
export interface CreateContext {
  client: TasksApi;
  clock: Clock;
  random: () => number;
  logger: Logger;
  attempts: number;
  attemptTimeoutMs: number;
  backoffMs: number;
}

/**
 * CreateTask, retried by the shared helper (util/retry.ts) on UNAVAILABLE and DEADLINE_EXCEEDED:
 * full-jitter waits from `backoffMs`, doubling, within the execution's deadline.
 */
export async function createTask(
  ctx: CreateContext,
  call: {
    parent: string;
    task: protos.google.cloud.tasks.v2.ITask;
    name: string;
    queue: string;
    extra: Record<string, unknown>;
  },
  target: DispatchTarget,
  deadline: AbortSignal,
  emit: ProgressListener,
): Promise<{ outcome: Settled; calls: number }> {
  const { client } = ctx;
  const { parent, task, name, queue, extra } = call;
  const result = await retryResult<{ outcome: Settled; calls: number }, unknown>(
    async (n) => {
      if (deadline.aborted)
        return { ok: true, value: { outcome: deadlineOutcome(deadline, extra), calls: n - 1 } };
      emit({ type: 'start', name: target.name, attempt: n, url: target.url });
      try {
        await untilAborted(
          client.createTask({ parent, task }, { timeout: ctx.attemptTimeoutMs, retry: { retryCodes: [] } }),
          deadline,
        );
        return {
          ok: true,
          value: { outcome: { status: 'scheduled', error: null, errorType: null, extra }, calls: n },
        };
      } catch (error) {
        if (deadline.aborted)
          return { ok: true, value: { outcome: deadlineOutcome(deadline, extra), calls: n } };
        if (isAlreadyExists(error))
          return {
            ok: true,
            value: { outcome: await existing(ctx, name, target, n, extra), calls: n },
          };
        return { ok: false, failure: error, retryable: isRetryableRpc(error) };
      }
    },
    {
      policy: {
        attempts: ctx.attempts,
        baseDelayMs: ctx.backoffMs,
        maxDelayMs: Number.POSITIVE_INFINITY,
      },
      clock: ctx.clock,
      signal: deadline,
      random: ctx.random,
      onRetry: ({ failure, attempt, delayMs }) =>
        emit({ type: 'retry', name: target.name, attempt, delayMs, reason: describeRpcError(failure) }),
    },
  );
  if (result.ok) return result.value;
  if (result.stop.kind === 'aborted')
    return { outcome: deadlineOutcome(deadline, extra), calls: result.attempts };
  const error = result.failure;
  const tries = result.attempts === 1 ? '' : ` after ${result.attempts} attempts`;
  return {
    outcome: {
      ...failed(
        `TASKS_FAILED: could not create the Cloud Task for ${target.name} in queue ${queue}${tries}: ${describeRpcError(error)}${hintFor(error, queue)}`,
      ),
      extra: { ...extra, error_code: 'TASKS_FAILED', rpc_code: rpcCode(error) },
    },
    calls: result.attempts,
  };
}

/**
 * ALREADY_EXISTS: this run's task exists. If another execution created it, a repeated trigger was
 * refused: a duplicate. If this one did (an earlier try whose answer was lost), it is simply
 * scheduled. The task's header says which; when the task is gone already (it ran), a refusal on the
 * first try can only be a duplicate.
 */
async function existing(
  ctx: CreateContext,
  name: string,
  target: DispatchTarget,
  call: number,
  extra: Record<string, unknown>,
): Promise<Settled> {
  const owner = await ctx.client
    .getTask({ name }, { timeout: ctx.attemptTimeoutMs, retry: { retryCodes: [] } })
    .then(([task]) => creatorOf(task))
    .catch(() => null);
  const ours = owner === target.payload.executionId || (owner === null && call > 1);
  if (ours) return { status: 'scheduled', error: null, errorType: null, extra };
  ctx.logger.info(`${target.name}: task already exists (a repeated trigger); not scheduled again`, {
    collector: target.name,
    task: name,
    ownerExecutionId: owner,
  });
  return {
    status: 'scheduled',
    error: null,
    errorType: null,
    extra: { ...extra, duplicate: true, ...(owner ? { duplicate_of: owner } : {}) },
  };
}

export function failed(error: string): Settled {
  return { status: 'failed', error, errorType: 'TasksError' };
}

export function deadlineOutcome(deadline: AbortSignal, extra: Record<string, unknown>): Settled {
  return {
    ...abortedOutcome(deadline.reason, ' before the Cloud Task was created (it may exist)'),
    extra,
  };
}
