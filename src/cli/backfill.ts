import type { BackfillOverlapPolicy } from '../config/scheduling';
import type { DispatchMode } from '../config/types';
import { execute, planExecution, type DryRunPlan } from '../execution/execute';
import { makeTrigger } from '../execution/trigger';
import type { BackfillInfo } from '../schedule/run-plan';
import { progressLine, reportTable, summaryLine, table } from './format';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';
import { withServices } from './with-services';

export interface BackfillOptions {
  from: string;
  to: string;
  overlap?: BackfillOverlapPolicy;
  mode?: DispatchMode;
  dryRun?: boolean;
  json?: boolean;
}

/**
 * `scheduler backfill NAME --from ISO --to ISO`: the collector once per scheduled time in the range,
 * through the same steps as any execution (schedule/backfill.ts). Run again, it resumes what is left.
 */
export async function backfillCommand(
  name: string,
  options: BackfillOptions,
  global: GlobalOptions,
  loadServices: ServicesLoader,
  io: CliIO,
): Promise<number> {
  const trigger = makeTrigger('cli', {
    mode: options.mode ?? null,
    dryRun: options.dryRun ?? false,
    backfill: {
      collector: name,
      fromMs: Date.parse(options.from),
      toMs: Date.parse(options.to),
      overlap: options.overlap ?? 'buffer_all',
    },
  });
  return withServices(loadServices, global, async (services) => {
    const zone = services.config.timezone;
    if (trigger.dryRun) {
      const plan = await planExecution(services, trigger);
      io.stdout(options.json ? JSON.stringify(plan, null, 2) + '\n' : renderDryRun(plan, zone) + '\n');
      return EXIT.ok;
    }
    const result = await execute(
      services,
      trigger,
      options.json ? undefined : (event) => io.stderr(progressLine(event) + '\n'),
    );
    const report = result.saved.stored
      ? result.report
      : { ...result.report, report_storage_error: result.saved.error };
    if (options.json) io.stdout(JSON.stringify(report, null, 2) + '\n');
    else {
      io.stdout(`${reportTable(result.report)}\n\n${summaryLine(result.report)}\n`);
      const info = result.report.trigger.backfill;
      if (info) io.stdout(progressText(info) + '\n');
      io.stdout(
        result.saved.stored
          ? `report: ${result.saved.location}\n`
          : `report NOT stored (${result.saved.error}); it was logged in full\n`,
      );
    }
    return result.report.summary.failed > 0 ? EXIT.failed : EXIT.ok;
  });
}

function progressText(info: BackfillInfo): string {
  const done = info.times - info.remaining;
  return `backfill ${info.id}: ${done} of ${info.times} scheduled times done${info.remaining > 0 ? `, ${info.remaining} left: run the same command again to resume` : ''}`;
}

export function renderDryRun(plan: DryRunPlan, zone: string): string {
  const info = plan.trigger.backfill!;
  const local = (iso: string) => new Date(iso).toLocaleString('sv-SE', { timeZone: zone }).slice(0, 16);
  const rows = Object.values(plan.collectors).map((c) => {
    if ('skipped' in c)
      return [c.scheduled_time, local(c.scheduled_time), `skipped (${c.reason})`, c.detail ?? ''];
    const at = c.payload.scheduledTime;
    return [
      at,
      local(at),
      c.payload.executionId,
      `POST ${c.url}${c.delay_seconds ? ` after ${c.delay_seconds} s` : ''}`,
    ];
  });
  return [
    `dry run (${plan.mode}): backfill of ${info.collector} from ${info.from} to ${info.to} (${info.overlap}), id ${info.id}`,
    `${info.times} scheduled time${info.times === 1 ? '' : 's'} in the range, ${info.remaining} to run, ${info.done_before} already done; nothing sent`,
    '',
    table(['SCHEDULED TIME (UTC)', `LOCAL (${zone})`, 'RUN ID (payload executionId)', 'DISPATCH'], rows, 160),
  ].join('\n');
}
