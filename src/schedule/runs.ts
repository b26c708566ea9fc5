import type { CollectorConfig, DispatchMode } from '../config/types';
import type { CollectorOutcome } from '../dispatch/types';
import type { Selection, Trigger } from '../execution/trigger';
import type { Services } from '../services';
import { admitBackfill, planBackfillRuns, settleBackfill } from './backfill';
import {
  neverStarted,
  planned,
  runIdFor,
  skipped,
  type AdmittedRun,
  type AdmittedRuns,
  type DecidedRun,
  type PlannedRun,
  type RunPlan,
} from './run-plan';
import { advisory } from './advisory';
import { catchups, moveWatermarks } from './catchup-runs';
import { countRunForPause } from './failure-pause';
import { jitterDelays } from './jitter';
import { describePause, pauseFor, PauseStore, type PauseRecord } from './pause';
import { reportKey } from '../report/report-store';
import { claimRun, type KnownWatermark, type RunClaim } from './run-claims';

export { advisory, POLICY_READ_BUDGET_MS } from './advisory';
export {
  runIdFor,
  type AdmittedRun,
  type AdmittedRuns,
  type PlannedRun,
  type RunKind,
  type RunPlan,
} from './run-plan';

/**
 * The runs of one execution, between selection and dispatch: which (collector, scheduled time) pairs
 * run, which are held back (paused, claimed by another instance, a backfill's times already done), and
 * what they leave in the state store once dispatched (claims, watermarks, failure streaks, backfill
 * progress). execute.ts calls the three steps in order: planRuns (reads only) → admitRuns (after the
 * tick claim: creates the run claims) → settleRuns (after dispatch).
 */

type Deps = Pick<Services, 'config' | 'clock' | 'random' | 'stores' | 'leases' | 'logger'>;

/** Step 1: the runs a selection asks for, held back where paused, plus the missed times to catch up. */
export async function planRuns(
  services: Deps,
  trigger: Trigger,
  selection: Selection,
  mode: DispatchMode,
): Promise<RunPlan> {
  const { config, clock } = services;
  const warnings: string[] = [];
  // A backfill must know: it refuses a paused collector. Anything else runs on what can be read.
  const pauses =
    selection.kind === 'backfill'
      ? await new PauseStore(services.stores.state, () => clock.now()).list()
      : await advisory(
          services,
          () => new PauseStore(services.stores.state, () => clock.now()).list(),
          [],
          (why) => `pauses not read (${why}): no collector was held back as paused`,
          warnings,
        );
  if (selection.kind === 'backfill' && trigger.backfill) {
    return planBackfillRuns(services, trigger.backfill, pauses, mode);
  }
  const runs: PlannedRun[] = [];
  const decided: DecidedRun[] = [];
  for (const collector of selection.collectors) {
    const run = planned(collector, selection.scheduledTimeMs, selection.kind);
    const pause = pauseFor(pauses, collector);
    if (pause) decided.push(paused(run, pause));
    else runs.push(run);
  }
  const watermarks = new Map<string, KnownWatermark>();
  if (selection.kind === 'tick') {
    const missed = await advisory(
      services,
      () => catchups(services, selection.scheduledTimeMs, pauses, watermarks),
      [],
      (why) => `missed runs not looked for (${why}): nothing was caught up at this tick`,
      warnings,
    );
    runs.push(...missed);
  }
  const delays = jitterDelays(
    runs.map((r) => r.collector),
    services.random,
    config.scheduler.deadlineSeconds * 1000,
  );
  runs.forEach((r, i) => {
    r.delayMs = r.jitterMs = delays[i]!;
  });
  return { runs: inOrder(config.collectors, runs), decided, backfill: null, warnings, watermarks };
}

/** Step 2, after the tick claim: each tick and catch-up run claims its (collector, time) once for all. */
export async function admitRuns(
  services: Deps,
  plan: RunPlan,
  executionId: string,
  { force, mode }: { force: boolean; mode: DispatchMode },
): Promise<AdmittedRuns> {
  if (plan.backfill) return admitBackfill(services, plan, executionId, mode);
  const nowMs = services.clock.now();
  const { deadlineSeconds, reportBudgetSeconds } = services.config.scheduler;
  const deadAfter = new Date(nowMs + (deadlineSeconds + reportBudgetSeconds) * 1000).toISOString();
  // A claim's execution is dead if it is past its time and never wrote its report (killed).
  const isDead = async (holder: RunClaim) =>
    (await services.stores.reports.get(reportKey(holder.executionId)).catch(() => null)) === null;
  const decided = [...plan.decided];
  const results = await Promise.all(
    plan.runs.map(async (run): Promise<AdmittedRun | null> => {
      const runId = runIdFor(executionId, run);
      const claims = run.kind === 'catchup' || (run.kind === 'tick' && !force);
      if (!claims) return { ...run, runId, release: null };
      const result = await claimRun(
        services.stores.state,
        {
          collector: run.collector.name,
          scheduledTime: new Date(run.scheduledTimeMs).toISOString(),
          executionId,
          kind: run.kind,
          claimedAt: new Date(nowMs).toISOString(),
          deadAfter,
        },
        isDead,
      );
      if (result.claimed) return { ...run, runId, release: result.release };
      // Another instance made this time up already: nothing to say. A tick's own run is reported.
      if (run.kind === 'tick') {
        const by = result.holder?.executionId ?? 'unknown';
        decided.push({
          run,
          outcome: skipped(run.collector, 'already_claimed', {
            error: `${run.collector.name} already ran for ${new Date(run.scheduledTimeMs).toISOString()} (execution ${by}, ${result.holder?.kind ?? 'a tick'}); not run twice`,
            extra: { claimed_by: by },
          }),
        });
      }
      return null;
    }),
  );
  return {
    runs: results.filter((r): r is AdmittedRun => r !== null),
    decided,
    backfill: null,
    warnings: plan.warnings,
    watermarks: plan.watermarks,
    done: async () => undefined,
  };
}

/**
 * Step 3, after dispatch (`outcomes` in the order of `admitted.runs`): gives back the claims of runs
 * that never reached their collector (so a later tick catches them up), moves watermarks, counts
 * failures for `pause_after_failures` (HTTP mode: the outcome is final here), records a backfill's
 * progress, and returns every run's outcome keyed for the report: the collector's name, or
 * `name@<scheduled time>` when it ran more than once in this execution.
 */
export async function settleRuns(
  services: Deps,
  admitted: AdmittedRuns,
  outcomes: readonly CollectorOutcome[],
  executionId: string,
  mode: DispatchMode,
): Promise<CollectorOutcome[]> {
  const { clock, logger } = services;
  const released = new Set<AdmittedRun>();
  await Promise.all(
    admitted.runs.map(async (run, i) => {
      if (!run.release || !neverStarted(outcomes[i]!)) return;
      released.add(run);
      await run
        .release()
        .catch((error: unknown) =>
          logger.warn(`claim of ${run.collector.name} not given back: ${(error as Error).message}`),
        );
    }),
  );
  await moveWatermarks(services, admitted, released, executionId);
  if (mode === 'http') {
    await Promise.all(
      admitted.runs.map((run, i) => {
        const o = outcomes[i]!;
        if (o.status !== 'success' && o.status !== 'failed') return undefined;
        return countRunForPause(services, run.collector, {
          runId: run.runId,
          failed: o.status === 'failed',
          error: o.error,
        }).catch((error: unknown) =>
          logger.warn(`failure count of ${run.collector.name} not updated: ${(error as Error).message}`),
        );
      }),
    );
  }
  if (admitted.backfill) await settleBackfill(services, admitted, outcomes, executionId, clock.now());
  const all: DecidedRun[] = [
    ...admitted.decided,
    ...admitted.runs.map((run, i) => ({ run: run as PlannedRun, outcome: withRunFields(run, outcomes[i]!) })),
  ];
  return keyed(services.config.collectors, all);
}

function paused(run: PlannedRun, pause: PauseRecord): DecidedRun {
  return {
    run,
    outcome: skipped(run.collector, 'paused', { error: describePause(pause), extra: { pause } }),
  };
}

function withRunFields(run: AdmittedRun, o: CollectorOutcome): CollectorOutcome {
  const extra: Record<string, unknown> = { ...o.extra };
  if (run.kind === 'catchup' || run.kind === 'backfill') {
    extra['trigger'] = { kind: run.kind, scheduled_time: new Date(run.scheduledTimeMs).toISOString() };
    extra['run_id'] = run.runId;
  }
  if (run.jitterMs > 0) extra['jitter_seconds'] = run.jitterMs / 1000;
  return { ...o, extra };
}

/**
 * Report keys, in report order (config order, then scheduled time): a collector's name, or
 * `name@<scheduled time>` for each of its runs when it has several in one execution.
 */
export function keyedRuns<T extends { run: PlannedRun }>(
  collectors: readonly CollectorConfig[],
  items: readonly T[],
): (T & { key: string })[] {
  const position = new Map(collectors.map((c, i) => [c.name, i]));
  const counts = new Map<string, number>();
  for (const { run } of items) counts.set(run.collector.name, (counts.get(run.collector.name) ?? 0) + 1);
  return [...items]
    .sort(
      (a, b) =>
        position.get(a.run.collector.name)! - position.get(b.run.collector.name)! ||
        a.run.scheduledTimeMs - b.run.scheduledTimeMs,
    )
    .map((item) => {
      const name = item.run.collector.name;
      const key =
        counts.get(name)! === 1 ? name : `${name}@${new Date(item.run.scheduledTimeMs).toISOString()}`;
      return { ...item, key };
    });
}

function keyed(collectors: readonly CollectorConfig[], all: DecidedRun[]): CollectorOutcome[] {
  return keyedRuns(collectors, all).map(({ run, outcome, key }) =>
    key === run.collector.name
      ? outcome
      : {
          ...outcome,
          name: key,
          extra: {
            collector: run.collector.name,
            scheduled_time: new Date(run.scheduledTimeMs).toISOString(),
            ...outcome.extra,
          },
        },
  );
}

function inOrder(collectors: readonly CollectorConfig[], runs: PlannedRun[]): PlannedRun[] {
  const position = new Map(collectors.map((c, i) => [c.name, i]));
  return [...runs].sort(
    (a, b) =>
      position.get(a.collector.name)! - position.get(b.collector.name)! ||
      a.scheduledTimeMs - b.scheduledTimeMs,
  );
}
