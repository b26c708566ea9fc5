import type { DispatchMode } from '../config/types';
import type { DispatchTarget } from '../dispatch/types';
import type { ExecutionReport } from '../report/report';
import { keyedRuns, planRuns, runIdFor, type AdmittedRun, type RunPlan } from '../schedule/runs';
import type { Services } from '../services';
import { redactUrl } from '../util/url';
import { newExecutionId } from './execution-id';
import { buildTargets, triggerInfo } from './targets';
import { selectCollectors, type Trigger } from './trigger';

export interface DryRunPlan {
  dry_run: true;
  execution_id: string;
  mode: DispatchMode;
  trigger: ExecutionReport['trigger'];
  collectors: Record<
    string,
    | {
        url: string;
        queue: string | null;
        group: string | null;
        timeout_seconds: number;
        payload: DispatchTarget['payload'];
        /** Not before the start plus this (jitter; a backfill task's spacing). */
        delay_seconds?: number;
        trigger?: { kind: string; scheduled_time: string };
      }
    | { skipped: true; scheduled_time: string; reason: string | undefined; detail: string | null }
  >;
}

/** What an execution would dispatch, and where, without sending anything. */
export async function planExecution(services: Services, trigger: Trigger): Promise<DryRunPlan> {
  const startMs = services.clock.now();
  const executionId = newExecutionId(startMs);
  const selection = selectCollectors(services.config, trigger, startMs);
  const mode = trigger.mode ?? services.config.scheduler.mode;
  const plan: RunPlan = await planRuns(services, trigger, selection, mode);
  const runs: AdmittedRun[] = plan.runs.map((r) => ({
    ...r,
    runId: runIdFor(executionId, r),
    release: null,
  }));
  const targets = await buildTargets(services, runs);
  const items = [
    ...runs.map((run, i) => ({ run, target: targets[i]! as DispatchTarget | null, decided: null })),
    ...plan.decided.map((d) => ({ run: d.run, target: null, decided: d.outcome })),
  ];
  return {
    dry_run: true,
    execution_id: executionId,
    mode,
    trigger: { ...triggerInfo(trigger, selection), ...(plan.backfill ? { backfill: plan.backfill } : {}) },
    collectors: Object.fromEntries(
      keyedRuns(services.config.collectors, items).map(({ key, run, target: t, decided }) => [
        key,
        t === null
          ? {
              skipped: true as const,
              scheduled_time: new Date(run.scheduledTimeMs).toISOString(),
              reason: decided?.reason,
              detail: decided?.error ?? null,
            }
          : {
              // Shown to whoever asked for the plan: no credentials, no query values.
              url: redactUrl(t.url),
              queue: t.queue,
              group: t.group,
              timeout_seconds: t.timeoutMs / 1000,
              payload: t.payload,
              ...(run.delayMs > 0 ? { delay_seconds: run.delayMs / 1000 } : {}),
              ...(run.kind === 'catchup' || run.kind === 'backfill'
                ? { trigger: { kind: run.kind, scheduled_time: new Date(run.scheduledTimeMs).toISOString() } }
                : {}),
            },
      ]),
    ),
  };
}
