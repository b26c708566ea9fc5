import type { DispatchMode } from '../config/types';
import { HttpDispatcher } from '../dispatch/http-dispatcher';
import type { Dispatcher, DispatchTarget } from '../dispatch/types';
import type { ExecutionReport } from '../report/report';
import type { AdmittedRun } from '../schedule/runs';
import type { Services } from '../services';
import { withShards } from '../shards/dispatcher';
import { queueIdFor } from '../tasks/naming';
import type { Selection, Trigger } from './trigger';

/* What an execution (execute.ts) and its dry run (dry-run.ts) share: targets, dispatchers, trigger info. */

/** One dispatch target per admitted run (an embedded URL for a collector without one). */
export async function buildTargets(
  services: Services,
  runs: readonly AdmittedRun[],
): Promise<DispatchTarget[]> {
  const needsEmbedded = runs.some((r) => r.collector.url === null);
  const embeddedBase = needsEmbedded ? await services.embedded.baseUrl() : null;
  return runs.map(({ collector: c, ...run }) => ({
    name: c.name,
    url: c.url ?? `${embeddedBase}/collectors/${c.name}`,
    payload: {
      executionId: run.runId,
      collector: c.name,
      scheduledTime: new Date(run.scheduledTimeMs).toISOString(),
      attempt: 1,
      ...(run.overlap ? { overlap: run.overlap } : {}),
    },
    timeoutMs: c.timeoutSeconds * 1000,
    retry: c.retry,
    group: c.group,
    groupWaitMs: c.groupWaitSeconds * 1000,
    queue: queueIdFor(services.config, c),
    ...(run.delayMs > 0 ? { delayMs: run.delayMs } : {}),
    ...(run.taskKey ? { taskKey: run.taskKey } : {}),
    // allow_all: a backfill's runs side by side rather than one after another.
    ...(run.overlap === 'allow_all' ? { lane: run.runId } : {}),
  }));
}

/** The dispatcher of a mode, wrapped so that a sharded collector is dispatched as its shards. */
export function dispatcherFor(services: Services, mode: DispatchMode): Dispatcher {
  // A sharded collector's target becomes its shards (shards/dispatcher.ts).
  return withShards(services, mode, modeDispatcher(services, mode));
}

function modeDispatcher(services: Services, mode: DispatchMode): Dispatcher {
  if (mode === 'tasks') {
    const { createTasksDispatcher } =
      require('../dispatch/tasks-dispatcher') as typeof import('../dispatch/tasks-dispatcher');
    return createTasksDispatcher(services);
  }
  return new HttpDispatcher({
    transport: services.transport,
    clock: services.clock,
    auth: services.auth,
    maxConcurrent: services.config.scheduler.maxConcurrentCollectors,
    maxResponseBytes: services.config.scheduler.maxResponseBytes,
    random: services.random,
    leases: services.leases,
  });
}

/** The report's account of what triggered an execution. */
export function triggerInfo(trigger: Trigger, selection: Selection): ExecutionReport['trigger'] {
  return {
    source: trigger.source,
    kind: selection.kind,
    scheduled_time: new Date(selection.scheduledTimeMs).toISOString(),
    job_name: trigger.jobName,
    forced: trigger.force,
  };
}
