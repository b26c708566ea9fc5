import { execute, planExecution } from '../execution/execute';
import { splitNames, type Trigger } from '../execution/trigger';
import type { DispatchMode } from '../config/types';
import { progressLine, reportTable, summaryLine } from './format';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';

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
  const trigger: Trigger = {
    source: 'cli',
    tickMs: options.at ? Date.parse(options.at) : null,
    jobName: null,
    collectors: options.collectors === undefined ? null : splitNames(options.collectors),
    mode: options.mode ?? null,
    dryRun: options.dryRun ?? false,
    force: options.force ?? false,
  };
  const services = await loadServices(global);
  try {
    if (trigger.dryRun) {
      const plan = await planExecution(services, trigger);
      if (options.json) io.stdout(JSON.stringify(plan, null, 2) + '\n');
      else {
        const names = Object.keys(plan.collectors);
        io.stdout(
          `dry run (${plan.mode}, ${plan.trigger.kind}): ${names.length} collector${names.length === 1 ? '' : 's'} would be dispatched; nothing sent\n`,
        );
        for (const [name, c] of Object.entries(plan.collectors)) {
          io.stdout(`  ${name.padEnd(20)} POST ${c.url}${c.group ? `  (group ${c.group})` : ''}\n`);
        }
      }
      return EXIT.ok;
    }
    const result = await execute(
      services,
      trigger,
      options.json ? undefined : (event) => io.stderr(progressLine(event) + '\n'),
    );
    if (options.json) {
      io.stdout(
        JSON.stringify(
          result.saved.stored
            ? result.report
            : { ...result.report, report_storage_error: result.saved.error },
          null,
          2,
        ) + '\n',
      );
    } else {
      io.stdout(`${reportTable(result.report)}\n\n${summaryLine(result.report)}\n`);
      io.stdout(
        result.saved.stored
          ? `report: ${result.saved.location}\n`
          : `report NOT stored (${result.saved.error}); it was logged in full\n`,
      );
    }
    return result.report.summary.failed > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await services.close();
  }
}
