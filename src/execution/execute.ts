import { afterExecution } from '../alerts/alerts';
import type { CollectorConfig, DispatchMode } from '../config/types';
import { HttpDispatcher } from '../dispatch/http-dispatcher';
import type { CollectorOutcome, Dispatcher, DispatchTarget, ProgressListener } from '../dispatch/types';
import { SchedulerError } from '../errors';
import { buildReport, httpStatusFor, type ExecutionReport } from '../report/report';
import { ReportStore, type SaveResult } from '../report/report-store';
import type { Services } from '../services';
import { timeoutSignal } from '../util/clock';
import { redactUrl } from '../util/url';
import { newExecutionId } from './execution-id';
import { claimTick } from './tick-claim';
import { queueIdFor } from '../tasks/naming';
import { selectCollectors, type Selection, type Trigger } from './trigger';

export interface ExecutionResult {
  report: ExecutionReport;
  httpStatus: number;
  saved: SaveResult;
}

export interface DryRunPlan {
  dry_run: true;
  execution_id: string;
  mode: DispatchMode;
  trigger: ExecutionReport['trigger'];
  collectors: Record<
    string,
    {
      url: string;
      queue: string | null;
      group: string | null;
      timeout_seconds: number;
      payload: DispatchTarget['payload'];
    }
  >;
}

/**
 * One execution: select the collectors the trigger asks for, dispatch them, and write the report.
 * Everything it needs comes in `services`, so tests run it against loopback servers and a fake clock.
 */
export async function execute(
  services: Services,
  trigger: Trigger,
  onProgress?: ProgressListener,
): Promise<ExecutionResult> {
  const { config, clock, logger } = services;
  const startMs = clock.now();
  const executionId = newExecutionId(startMs);
  const selection = selectCollectors(config, trigger, startMs);
  const mode = trigger.mode ?? config.scheduler.mode;
  const log = logger.child({ executionId });
  await claimTick(services.stores.state, trigger, selection, executionId, startMs);
  log.info('execution started', {
    trigger: trigger.source,
    kind: selection.kind,
    collectors: selection.collectors.map((c) => c.name),
    mode,
  });

  const deadlineMs = config.scheduler.deadlineSeconds * 1000;
  const deadline = timeoutSignal(
    clock,
    deadlineMs,
    new SchedulerError(
      'COLLECTOR_TIMEOUT',
      `execution deadline of ${config.scheduler.deadlineSeconds} s (scheduler.deadline_seconds) reached; aborted`,
    ),
  );
  let outcomes: CollectorOutcome[];
  try {
    const targets = await buildTargets(services, selection, executionId);
    outcomes = await dispatcherFor(services, mode).dispatch(targets, {
      signal: deadline.signal,
      force: trigger.force,
      ...(onProgress ? { onProgress } : {}),
    });
  } finally {
    deadline.clear();
  }

  const report = buildReport({
    executionId,
    startMs,
    endMs: clock.now(),
    mode,
    trigger: triggerInfo(trigger, selection),
    outcomes,
    // Dispatchers note what they had to adjust (e.g. a deadline clamped to Cloud Tasks' limits).
    warnings: outcomes.flatMap((o) =>
      typeof o.extra?.['warning'] === 'string' ? [`${o.name}: ${o.extra['warning']}`] : [],
    ),
  });
  const saved = await new ReportStore(services.stores.reports, log, () => clock.now()).save(report);
  // Failure streaks and their notifications: bounded, logged, never a reason to fail the execution.
  await afterExecution(services, report, saved, log).catch((error: unknown) =>
    log.warn(`alerts not processed: ${(error as Error).message}`),
  );
  log.info('execution finished', { summary: report.summary, report: saved.location });
  return { report, httpStatus: httpStatusFor(report), saved };
}

/** What an execution would dispatch, and where, without sending anything. */
export async function planExecution(services: Services, trigger: Trigger): Promise<DryRunPlan> {
  const startMs = services.clock.now();
  const executionId = newExecutionId(startMs);
  const selection = selectCollectors(services.config, trigger, startMs);
  const targets = await buildTargets(services, selection, executionId);
  return {
    dry_run: true,
    execution_id: executionId,
    mode: trigger.mode ?? services.config.scheduler.mode,
    trigger: triggerInfo(trigger, selection),
    collectors: Object.fromEntries(
      targets.map((t) => [
        t.name,
        {
          // Shown to whoever asked for the plan: no credentials, no query values.
          url: redactUrl(t.url),
          queue: t.queue,
          group: t.group,
          timeout_seconds: t.timeoutMs / 1000,
          payload: t.payload,
        },
      ]),
    ),
  };
}

async function buildTargets(
  services: Services,
  selection: Selection,
  executionId: string,
): Promise<DispatchTarget[]> {
  const scheduledTime = new Date(selection.scheduledTimeMs).toISOString();
  const needsEmbedded = selection.collectors.some((c) => c.url === null);
  const embeddedBase = needsEmbedded ? await services.embedded.baseUrl() : null;
  return selection.collectors.map((c: CollectorConfig) => ({
    name: c.name,
    url: c.url ?? `${embeddedBase}/collectors/${c.name}`,
    payload: { executionId, collector: c.name, scheduledTime, attempt: 1 },
    timeoutMs: c.timeoutSeconds * 1000,
    retry: c.retry,
    group: c.group,
    groupWaitMs: c.groupWaitSeconds * 1000,
    queue: queueIdFor(services.config, c),
  }));
}

function dispatcherFor(services: Services, mode: DispatchMode): Dispatcher {
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

function triggerInfo(trigger: Trigger, selection: Selection): ExecutionReport['trigger'] {
  return {
    source: trigger.source,
    kind: selection.kind,
    scheduled_time: new Date(selection.scheduledTimeMs).toISOString(),
    job_name: trigger.jobName,
    forced: trigger.force,
  };
}
