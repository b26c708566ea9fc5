import { afterExecution } from '../alerts/alerts';
import type { DispatchMode } from '../config/types';
import type { DispatchTarget, ProgressListener } from '../dispatch/types';
import { errorMessage, SchedulerError } from '../errors';
import { buildReport, httpStatusFor, type ExecutionReport } from '../report/report';
import { reportKey, ReportStore, type SaveResult } from '../report/report-store';
import type { Services } from '../services';
import { untilAborted } from '../util/abort';
import { isCancellation } from '../util/cancel';
import type { Logger } from '../util/log';
import { dispatchUntilDeadline, ReportBudget } from './deadline';
import { newExecutionId } from './execution-id';
import { claimTick } from './tick-claim';
import { dispatchGate } from '../schedule/gate';
import { admitRuns, planRuns, settleRuns, type AdmittedRuns } from '../schedule/runs';
import { buildTargets, dispatcherFor, triggerInfo } from './targets';
import { selectCollectors, type Selection, type Trigger } from './trigger';

export { planExecution, type DryRunPlan } from './dry-run';

export interface ExecutionResult {
  report: ExecutionReport;
  httpStatus: number;
  saved: SaveResult;
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
  // Pauses, catch-ups and backfill times: what runs, for which scheduled times (schedule/runs.ts).
  const plan = await planRuns(services, trigger, selection, mode);
  if (selection.kind === 'tick' && plan.runs.length === 0 && plan.decided.length === 0) {
    return emptyTick(services, executionId, startMs, mode, trigger, selection, log);
  }
  const deadlineMs = config.scheduler.deadlineSeconds * 1000;
  const budget = new ReportBudget(clock, config.scheduler.reportBudgetSeconds * 1000);
  const reports = new ReportStore(services.stores.reports, log, () => clock.now());
  const { claim, admitted } = await claimAndAdmit(services, trigger, selection, plan, {
    executionId,
    mode,
    log,
    claimTtlMs: deadlineMs + budget.seconds * 1000,
  });
  log.info('execution started', {
    trigger: trigger.source,
    kind: selection.kind,
    collectors: admitted.runs.map((r) => r.collector.name),
    mode,
  });

  try {
    let targets: DispatchTarget[];
    try {
      targets = await buildTargets(services, admitted.runs);
    } catch (error) {
      await claim?.release();
      throw error;
    }
    const dispatched = await dispatchRuns(services, mode, targets, admitted, {
      startMs,
      budget,
      force: trigger.force,
      onProgress,
    });
    const { stoppedBy, dispatchedAny } = dispatched;
    const outcomes = await settleRuns(services, admitted, dispatched.outcomes, executionId, mode);
    const cancelled = isCancellation(stoppedBy);
    const giveBack = claim !== null && !dispatchedAny;
    const report = buildReport({
      executionId,
      startMs,
      endMs: clock.now(),
      mode,
      trigger: {
        ...triggerInfo(trigger, selection),
        ...(admitted.backfill ? { backfill: admitted.backfill } : {}),
      },
      outcomes,
      warnings: reportWarnings(outcomes, admitted.warnings, cancelled ? stoppedBy : null, giveBack),
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
    await admitted.done();
  }
}

/**
 * The tick's claim (null for a run that is not a tick), then the runs admitted under it; when admission
 * fails, the claim is given back so that a retry of the tick runs it.
 */
async function claimAndAdmit(
  services: Services,
  trigger: Trigger,
  selection: Selection,
  plan: Awaited<ReturnType<typeof planRuns>>,
  at: { executionId: string; mode: DispatchMode; log: Logger; claimTtlMs: number },
): Promise<{ claim: Awaited<ReturnType<typeof claimTick>>; admitted: AdmittedRuns }> {
  const claim = await claimTick(
    {
      state: services.stores.state,
      clock: services.clock,
      logger: at.log,
      hasReport: async (id) => (await services.stores.reports.get(reportKey(id))) !== null,
    },
    trigger,
    selection,
    at.executionId,
    at.claimTtlMs,
  );
  try {
    const admitted = await admitRuns(services, plan, at.executionId, { force: trigger.force, mode: at.mode });
    return { claim, admitted };
  } catch (error) {
    await claim?.release();
    throw error;
  }
}

/** Dispatches the admitted runs until the execution's deadline, each through its dispatch gate. */
function dispatchRuns(
  services: Services,
  mode: DispatchMode,
  targets: DispatchTarget[],
  admitted: AdmittedRuns,
  options: {
    startMs: number;
    budget: ReportBudget;
    force: boolean;
    onProgress: ProgressListener | undefined;
  },
): ReturnType<typeof dispatchUntilDeadline> {
  const { config, clock } = services;
  const deadlineMs = config.scheduler.deadlineSeconds * 1000;
  return dispatchUntilDeadline(dispatcherFor(services, mode), targets, {
    clock,
    deadlineMs,
    deadlineReason: new SchedulerError(
      'COLLECTOR_TIMEOUT',
      `execution deadline of ${config.scheduler.deadlineSeconds} s (scheduler.deadline_seconds) reached; aborted`,
    ),
    shutdown: services.shutdown,
    budget: options.budget,
    force: options.force,
    onProgress: options.onProgress,
    beforeDispatch: dispatchGate(
      services,
      new Map(targets.map((t, i) => [t, admitted.runs[i]!])),
      options.startMs,
      deadlineMs,
    ),
  });
}

/** The report's warnings: what dispatchers adjusted, what admission noted, a stop, a tick given back. */
function reportWarnings(
  outcomes: Awaited<ReturnType<typeof settleRuns>>,
  admissionWarnings: readonly string[],
  stoppedBy: unknown,
  givenBack: boolean,
): string[] {
  return [
    // Dispatchers note what they had to adjust (e.g. a deadline clamped to Cloud Tasks' limits).
    ...outcomes.flatMap((o) =>
      typeof o.extra?.['warning'] === 'string' ? [`${o.name}: ${o.extra['warning']}`] : [],
    ),
    ...admissionWarnings,
    ...(stoppedBy !== null ? [errorMessage(stoppedBy)] : []),
    ...(givenBack ? ['nothing was dispatched: the tick was given back, so a retry runs it'] : []),
  ];
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
