import type { CollectorConfig } from '../config/types';
import type { RunRecord } from '../runtime/contract';
import type { DispatchPayload } from '../runtime/payload';
import { skipRun, type CollectorRunOutcome, type CollectorRuntime } from '../runtime/run-collector';
import type { Services } from '../services';
import { countRunForPause } from './failure-pause';
import { describePause, PauseStore, type PauseRecord } from './pause';
import { advisory } from './advisory';

/** What the collector route asks of the scheduling policies before and after a run. */

/** The pause holding a collector back, if any; none when the state store cannot say (logged). */
export function pauseOfCollector(
  services: Pick<Services, 'stores' | 'clock' | 'logger'>,
  collector: Pick<CollectorConfig, 'name' | 'group'>,
): Promise<PauseRecord | null> {
  return advisory(
    services,
    () => new PauseStore(services.stores.state, () => services.clock.now()).pauseOf(collector),
    null,
    (why) => `pause of ${collector.name} not read (${why}): it runs`,
    [],
  );
}

/** A delivery of a paused collector: recorded as skipped (reason paused, with the note), not retried. */
export function skipPaused(
  runtime: CollectorRuntime,
  payload: DispatchPayload,
  pause: PauseRecord,
): Promise<CollectorRunOutcome> {
  return skipRun(
    payload.collector,
    payload,
    { reason: 'paused', message: describePause(pause), details: { pause } },
    runtime,
    { record: true },
  );
}

/**
 * Tasks mode: the route is where a run's outcome is known, so it counts it for `pause_after_failures`
 * once final (a success, or a failure Cloud Tasks will not retry). HTTP mode counts in the scheduler.
 */
export async function countQueuedRun(
  services: Pick<Services, 'stores' | 'clock' | 'logger' | 'config'>,
  collector: Pick<CollectorConfig, 'name' | 'scheduling'>,
  record: RunRecord,
): Promise<void> {
  const maxAttempts = services.config.scheduler.tasks.maxAttempts;
  const final =
    record.status === 'success' ||
    (record.status === 'failed' &&
      (!record.retryable || (maxAttempts !== -1 && record.attempt >= maxAttempts)));
  if (!final) return;
  await countRunForPause(services, collector, {
    runId: record.executionId,
    failed: record.status === 'failed',
    error: record.error,
  }).catch((error: unknown) =>
    services.logger.warn(`failure count of ${collector.name} not updated: ${(error as Error).message}`),
  );
}
