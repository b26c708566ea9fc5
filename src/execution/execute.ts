import { afterExecution } from '../alerts/alerts';
import type { CollectorConfig, DispatchMode } from '../config/types';
import { HttpDispatcher } from '../dispatch/http-dispatcher';
import type { Dispatcher, DispatchTarget, ProgressListener } from '../dispatch/types';
import { errorMessage, SchedulerError } from '../errors';
import { buildReport, httpStatusFor, type ExecutionReport } from '../report/report';
import { reportKey, ReportStore, type SaveResult } from '../report/report-store';
import type { Services } from '../services';
import { untilAborted } from '../util/abort';
import { isCancellation } from '../util/cancel';
import type { Logger } from '../util/log';
import { redactUrl } from '../util/url';
import { queueIdFor } from '../tasks/naming';
import { withShards } from '../shards/dispatcher';
import { dispatchUntilDeadline, ReportBudget } from './deadline';
import { newExecutionId } from './execution-id';
import { claimTick } from './tick-claim';
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
 * One execution: select the collectors the trigger asks for, claim the tick, dispatch them until the
 * deadline (or a signal), and write the report within the report budget. Everything it needs comes in
 * `services`, so tests run it against loopback servers and a fake clock.
 *
 * Every path ends in a report, a retry or a clear refusal: a tick selecting nothing is answered without
 * a report; a tick already running or done is refused (409); a tick whose claim the state store cannot
 * take in time is refused 503 with nothing dispatched, and its claim given back if it landed late; a
 * claim whose execution dispatched nothing is given back too, so Cloud Scheduler's retry runs the tick.
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
  if (selection.kind === 'tick' && selection.collectors.length === 0) {
    return emptyTick(services, executionId, startMs, mode, trigger, selection, log);
  }

  const deadlineMs = config.scheduler.deadlineSeconds * 1000;
  const budget = new ReportBudget(clock, config.scheduler.reportBudgetSeconds * 1000);
  const reports = new ReportStore(services.stores.reports, log, () => clock.now());
  const claim = await claimTick(
    {
      state: services.stores.state,
      clock,
      logger: log,
      hasReport: async (id) => (await services.stores.reports.get(reportKey(id))) !== null,
    },
    trigger,
    selection,
    executionId,
    deadlineMs + budget.seconds * 1000,
  );
  log.info('execution started', {
    trigger: trigger.source,
    kind: selection.kind,
    collectors: selection.collectors.map((c) => c.name),
    mode,
  });

  try {
    let targets: DispatchTarget[];
    try {
      targets = await buildTargets(services, selection, executionId);
    } catch (error) {
      await claim?.release();
      throw error;
    }
    const { outcomes, stoppedBy, dispatchedAny } = await dispatchUntilDeadline(
      dispatcherFor(services, mode),
      targets,
      {
        clock,
        deadlineMs,
        deadlineReason: new SchedulerError(
          'COLLECTOR_TIMEOUT',
          `execution deadline of ${config.scheduler.deadlineSeconds} s (scheduler.deadline_seconds) reached; aborted`,
        ),
        shutdown: services.shutdown,
        budget,
        force: trigger.force,
        onProgress,
      },
    );
    const cancelled = isCancellation(stoppedBy);
    const giveBack = claim !== null && !dispatchedAny;
    const report = buildReport({
      executionId,
      startMs,
      endMs: clock.now(),
      mode,
      trigger: triggerInfo(trigger, selection),
      outcomes,
      warnings: [
        // Dispatchers note what they had to adjust (e.g. a deadline clamped to Cloud Tasks' limits).
        ...outcomes.flatMap((o) =>
          typeof o.extra?.['warning'] === 'string' ? [`${o.name}: ${o.extra['warning']}`] : [],
        ),
        ...(cancelled ? [errorMessage(stoppedBy)] : []),
        ...(giveBack ? ['nothing was dispatched: the tick was given back, so a retry runs it'] : []),
      ],
    });
    const saved = await saveWithinBudget(reports, report, budget, log);
    if (claim) {
      const settle = giveBack ? claim.release() : claim.finish(cancelled ? 'cancelled' : 'done');
      await untilAborted(settle, budget.report).catch(() => undefined);
    }
    // Failure streaks and their notifications: bounded, logged, never a reason to fail the execution.
    await afterExecution(services, report, saved, log).catch((error: unknown) =>
      log.warn(`alerts not processed: ${(error as Error).message}`),
    );
    log.info('execution finished', { summary: report.summary, report: saved.location });
    return { report, httpStatus: httpStatusFor(report), saved };
  } finally {
    budget.clear();
  }
}

/** A tick that selects no collector: logged and answered, but no report (it would bury the real ones). */
function emptyTick(
  services: Services,
  executionId: string,
  startMs: number,
  mode: DispatchMode,
  trigger: Trigger,
  selection: Selection,
  log: Logger,
): ExecutionResult {
  const report = buildReport({
    executionId,
    startMs,
    endMs: services.clock.now(),
    mode,
    trigger: triggerInfo(trigger, selection),
    outcomes: [],
  });
  log.info('tick selected no collector: nothing dispatched, no report written', {
    tick: report.trigger.scheduled_time,
  });
  return {
    report,
    httpStatus: 200,
    saved: { stored: false, location: null, error: null, skipped: 'no collector is due at this tick' },
  };
}

/** Stores the report within the budget; past it, logs it in full and answers it anyway. */
async function saveWithinBudget(
  reports: ReportStore,
  report: ExecutionReport,
  budget: ReportBudget,
  log: Logger,
): Promise<SaveResult> {
  try {
    return await untilAborted(reports.save(report), budget.report);
  } catch (error) {
    const message = `execution report not stored: ${errorMessage(error)}; it was logged in full`;
    log.error(message, { executionId: report.execution_id, report });
    return { stored: false, location: null, error: message };
  }
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

function triggerInfo(trigger: Trigger, selection: Selection): ExecutionReport['trigger'] {
  return {
    source: trigger.source,
    kind: selection.kind,
    scheduled_time: new Date(selection.scheduledTimeMs).toISOString(),
    job_name: trigger.jobName,
    forced: trigger.force,
  };
}
