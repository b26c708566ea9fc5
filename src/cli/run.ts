import { execute, planExecution } from '../execution/execute';
import { makeTrigger, splitNames } from '../execution/trigger';
import type { DispatchMode } from '../config/types';
import { buildPlan } from '../schedule/plan';
import type { Services } from '../services';
import { batchedLines } from './batched-output';
import { progressLine, reportTable, summaryLine } from './format';
import { advisoryDurations } from './plan';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';
import { withServices } from './with-services';

export interface RunOptions {
  collectors?: string;
  mode?: DispatchMode;
  at?: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
}

export async function runCommand(
  options: RunOptions,
  global: GlobalOptions,
  loadServices: ServicesLoader,
  io: CliIO,
): Promise<number> {
  const trigger = makeTrigger('cli', {
    tickMs: options.at ? Date.parse(options.at) : null,
    collectors: options.collectors === undefined ? null : splitNames(options.collectors),
    mode: options.mode ?? null,
    dryRun: options.dryRun ?? false,
    force: options.force ?? false,
  });
  return withServices(loadServices, global, async (services) => {
    if (trigger.dryRun) {
      const plan = await planExecution(services, trigger);
      const ignored = services.config.ignored;
      if (options.json) io.stdout(JSON.stringify({ ...plan, config_ignored: ignored }, null, 2) + '\n');
      else {
        const names = Object.keys(plan.collectors);
        io.stdout(
          `dry run (${plan.mode}, ${plan.trigger.kind}): ${names.length} collector${names.length === 1 ? '' : 's'} would be dispatched; nothing sent\n`,
        );
        for (const [name, c] of Object.entries(plan.collectors)) {
          io.stdout(
            'skipped' in c
              ? `  ${name.padEnd(20)} skipped (${c.reason}): ${c.detail ?? ''}\n`
              : `  ${name.padEnd(20)} POST ${c.url}${c.group ? `  (group ${c.group})` : ''}${c.trigger ? `  (${c.trigger.kind} of ${c.trigger.scheduled_time})` : ''}\n`,
          );
        }
        if (ignored.length > 0) {
          io.stdout(`not used from ${services.config.source} (${ignored.length}):\n`);
          for (const i of ignored) io.stdout(`  ${i.path}: ${i.why}\n`);
        }
      }
      return EXIT.ok;
    }
    await warnAboutOverlaps(services, io);
    const progress = options.json ? null : batchedLines(io.stderr);
    let result: Awaited<ReturnType<typeof execute>>;
    try {
      result = await execute(
        services,
        trigger,
        progress ? (event) => progress.line(progressLine(event)) : undefined,
      );
    } finally {
      progress?.flush();
    }
    const { saved } = result;
    if (options.json) {
      io.stdout(
        JSON.stringify(
          saved.error === null ? result.report : { ...result.report, report_storage_error: saved.error },
          null,
          2,
        ) + '\n',
      );
    } else if (saved.skipped) {
      io.stdout(`${saved.skipped}: nothing dispatched, no report written\n`);
    } else {
      io.stdout(`${reportTable(result.report)}\n\n${summaryLine(result.report)}\n`);
      io.stdout(
        saved.stored
          ? `report: ${saved.location}\n`
          : `report NOT stored (${saved.error}); it was logged in full\n`,
      );
    }
    return result.report.summary.failed > 0 ? EXIT.failed : EXIT.ok;
  });
}

/**
 * A config whose group members overlap will see group_busy skips: say so before running. Advice only:
 * the report history gets a short budget, and without it the check uses the timeouts. Only group
 * members can overlap, so only they are planned, and a config without groups costs nothing here.
 */
export async function warnAboutOverlaps(services: Services, io: CliIO): Promise<void> {
  const members = services.config.collectors.filter((c) => c.enabled && c.schedule !== null && c.group);
  if (members.length === 0) return;
  const { durations, note } = await advisoryDurations(services, new Set(members.map((c) => c.name)));
  if (note) io.stderr(`${note}\n`);
  const plan = buildPlan({ ...services.config, collectors: members }, services.clock.now(), 24, durations);
  const groups = [...new Set(plan.overlaps.map((o) => o.group))];
  if (groups.length > 0) {
    io.stderr(
      `warning: members of group ${groups.join(', ')} overlap ${plan.overlaps.length} time${plan.overlaps.length === 1 ? '' : 's'} in the next 24 h; some runs will wait or be skipped (group_busy). See \`scheduler plan\` for staggered schedules.\n`,
    );
  }
}
