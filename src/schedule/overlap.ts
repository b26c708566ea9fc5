import type { AnyOverlapPolicy } from '../config/scheduling';
import type { CollectorConfig } from '../config/types';
import { DEFAULT_LEASE_TTL_MS, LeaseManager, type LeaseRecord } from '../lease/lease';
import type { DispatchPayload } from '../runtime/payload';
import { skipRun, type CollectorRunOutcome, type CollectorRuntime } from '../runtime/run-collector';
import { isPreconditionFailed, putJson, readJson, type ObjectStore } from '../store/types';

/**
 * The overlap policy, across executions and instances: a run of a collector holds the lease
 * `run-<collector>` (an object in the state store, renewed while the run lasts, expiring by itself if its
 * instance dies) for as long as it runs. A run that finds it held by another run:
 * - `skip` (the default): is skipped, reason `still_running`, naming the running execution;
 * - `buffer_one` / `buffer_all`: waits for it to end (HTTP mode: the scheduler waits before sending, see
 *   gate.ts; tasks mode: the delivery answers 503, so Cloud Tasks delivers it again after its backoff);
 *   with `buffer_one` only one run waits, a second is skipped;
 * - `allow` / `allow_all`: runs anyway, without the lease.
 */

export function runLeaseName(collector: string): string {
  return `run-${collector}`;
}

/** The execution a run id belongs to (`<execution>.<time>` for catch-up and backfill runs). */
export function executionOf(runId: string): string {
  return runId.split('.')[0] ?? runId;
}

export function allowsOverlap(policy: AnyOverlapPolicy): boolean {
  return policy === 'allow' || policy === 'allow_all';
}

export function stillRunning(
  collector: string,
  running: LeaseRecord,
  policy: AnyOverlapPolicy,
  waiting = false,
) {
  const execution = executionOf(running.executionId);
  return {
    message: `the previous run of ${collector} (execution ${execution}, since ${running.acquiredAt}) is still running (overlap: ${policy})${waiting ? '; this run waits for it and is delivered again' : ''}`,
    details: {
      running_execution_id: execution,
      ...(running.executionId !== execution ? { running_run_id: running.executionId } : {}),
    },
  };
}

/**
 * Runs `run` under the collector's overlap policy (the collector route, in both modes). `queued`: a
 * Cloud Tasks delivery, which may be answered "later" (503) for the queue to deliver it again.
 */
export async function underOverlapPolicy(
  runtime: CollectorRuntime & { leases: LeaseManager },
  collector: Pick<CollectorConfig, 'name' | 'scheduling'>,
  payload: DispatchPayload,
  queued: boolean,
  run: () => Promise<CollectorRunOutcome>,
): Promise<CollectorRunOutcome> {
  const policy: AnyOverlapPolicy = payload.overlap ?? collector.scheduling.overlap;
  if (allowsOverlap(policy)) return run();
  const result = await runtime.leases.tryAcquire(
    runLeaseName(collector.name),
    LeaseManager.holderId(payload.executionId, collector.name),
    DEFAULT_LEASE_TTL_MS,
  );
  if (result.acquired) {
    try {
      if (policy === 'buffer_one')
        await leaveBufferSlot(runtime.stores.state, collector.name, payload.executionId);
      return await run();
    } finally {
      await result.lease.release();
    }
  }
  const running = result.holder;
  if (running.executionId === payload.executionId) {
    return skipRun(
      collector.name,
      payload,
      {
        reason: 'already_running',
        message: `this run of ${collector.name} is already in progress (a duplicate delivery)`,
      },
      runtime,
      { record: false },
    );
  }
  // Only a queued delivery waits here: in HTTP mode the scheduler waited before sending (gate.ts), and
  // this run lost a race for the lease.
  let waits = queued && (policy === 'buffer_one' || policy === 'buffer_all');
  if (waits && policy === 'buffer_one') {
    const slot = await takeBufferSlot(
      runtime.stores.state,
      collector.name,
      payload.executionId,
      runtime.clock.now(),
    );
    waits = slot.taken;
  }
  const why = stillRunning(collector.name, running, policy, waits);
  return skipRun(
    collector.name,
    payload,
    {
      reason: 'still_running',
      message:
        waits || policy !== 'buffer_one'
          ? why.message
          : `${why.message}; another run already waits (buffer_one)`,
      details: why.details,
      // 503: Cloud Tasks delivers it again after the queue's backoff.
      retryable: waits,
    },
    runtime,
    { record: true },
  );
}

/**
 * `buffer_one`'s slot, `<state>/schedule/buffered/<collector>.json`: the one run waiting for the running
 * one. It expires (a waiting run whose deliveries ran out leaves it behind) after this long.
 * @default 30 min
 */
export const BUFFER_SLOT_TTL_MS = 30 * 60_000;

interface BufferSlot {
  runId: string;
  expiresAt: number;
}

function slotKey(collector: string): string {
  return `schedule/buffered/${collector}.json`;
}

/** Takes (or keeps) the waiting slot for `runId`; false when another run holds it. */
export async function takeBufferSlot(
  state: ObjectStore,
  collector: string,
  runId: string,
  nowMs: number,
): Promise<{ taken: boolean }> {
  for (let tries = 0; tries < 3; tries++) {
    const current = await readJson<BufferSlot>(state, slotKey(collector));
    if (current && current.value.runId !== runId && current.value.expiresAt > nowMs) return { taken: false };
    try {
      await putJson(
        state,
        slotKey(collector),
        { runId, expiresAt: nowMs + BUFFER_SLOT_TTL_MS } satisfies BufferSlot,
        { ifGenerationMatch: current?.generation ?? 0 },
      );
      return { taken: true };
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
    }
  }
  return { taken: false };
}

/** Gives the slot up, if `runId` holds it (its turn came, or it stopped waiting). */
export async function leaveBufferSlot(state: ObjectStore, collector: string, runId: string): Promise<void> {
  const current = await readJson<BufferSlot>(state, slotKey(collector));
  if (current?.value.runId !== runId) return;
  await state
    .delete(slotKey(collector), { ifGenerationMatch: current.generation })
    .catch((error: unknown) => {
      if (!isPreconditionFailed(error)) throw error;
    });
}
