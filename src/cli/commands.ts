import { InvalidArgumentError, Option, type Command } from 'commander';
import { builtinCollectors } from '../../collectors';
import { configPath, loadConfig } from '../config/load';
import { BACKFILL_OVERLAP_POLICIES } from '../config/scheduling';
import { DISPATCH_MODES } from '../config/types';
import type { ServiceOptions } from '../create-services';
import type { GcloudRunner } from '../deploy/gcloud';
import { CollectorRegistry } from '../runtime/registry';
import { runCommand } from './run';
import type { StopSignals } from './stop-signals';
import type { CliIO, GlobalOptions, ServicesLoader } from './types';

// Each command's module loads when that command runs: `scheduler run` does not pay for deploy, plan,
// status and the others at start-up.
const backfillCommand: typeof import('./backfill').backfillCommand = (...args) =>
  (require('./backfill') as typeof import('./backfill')).backfillCommand(...args);
const collectCommand: typeof import('./collect').collectCommand = (...args) =>
  (require('./collect') as typeof import('./collect')).collectCommand(...args);
const deployCommand: typeof import('./deploy').deployCommand = (...args) =>
  (require('./deploy') as typeof import('./deploy')).deployCommand(...args);
const historyCommand: typeof import('./history').historyCommand = (...args) =>
  (require('./history') as typeof import('./history')).historyCommand(...args);
const planCommand: typeof import('./plan').planCommand = (...args) =>
  (require('./plan') as typeof import('./plan')).planCommand(...args);
const queuesCommand: typeof import('./queues').queuesCommand = (...args) =>
  (require('./queues') as typeof import('./queues')).queuesCommand(...args);
const statusCommand: typeof import('./status').statusCommand = (...args) =>
  (require('./status') as typeof import('./status')).statusCommand(...args);
const pauseCommand: typeof import('./pause').pauseCommand = (...args) =>
  (require('./pause') as typeof import('./pause')).pauseCommand(...args);
const resumeCommand: typeof import('./pause').resumeCommand = (...args) =>
  (require('./pause') as typeof import('./pause')).resumeCommand(...args);

/** What the commands share: the scrubbed output, the services, the stop signals, the exit code. */
export interface CommandContext {
  io: CliIO;
  loadServices: ServicesLoader;
  stop: StopSignals;
  overrides: ServiceOptions;
  gcloud?: GcloudRunner;
  /** The global options (--config, --verbose), once parsed. */
  global: () => GlobalOptions;
  /** Sets the process's exit code. */
  done: (code: number) => void;
}

/** `run`, `status`, `history` and `plan`: executions, what ran and what will. Registered in the order `--help` lists them. */
export function addExecutionCommands(program: Command, ctx: CommandContext): void {
  program
    .command('run')
    .description('run one execution now, in this process, with live progress and a summary table')
    .option(
      '--collectors <names>',
      'comma-separated collectors to run (default: every enabled one, or those due at --at)',
    )
    .addOption(new Option('--mode <mode>', 'dispatch mode').choices(DISPATCH_MODES))
    .option('--at <time>', 'run the collectors due at this ISO time (a tick)', isoTime)
    .option('--dry-run', 'print what would be dispatched, and where; send nothing')
    .option('--force', 'run even if this tick already ran')
    .option('--json', 'print the report as JSON')
    .action(async (options) => {
      ctx.done(await ctx.stop.during(() => runCommand(options, ctx.global(), ctx.loadServices, ctx.io)));
    });

  program
    .command('status')
    .description('show the latest execution report (or one, with --id)')
    .option('--id <executionId>', 'an execution id')
    .option('--json', 'print the report as JSON')
    .option('--html <file>', 'also write the report page (a timeline and the errors) to this file')
    .action(async (options) => {
      ctx.done(await statusCommand(options, ctx.global(), ctx.loadServices, ctx.io));
    });

  program
    .command('history')
    .description('executions newest first, from the history index; with --collector, its runs')
    .option('--collector <name>', "only executions that ran this collector, and that collector's runs")
    .option('--since <time>', 'only executions started at or after this ISO time')
    .option('--limit <n>', 'at most this many executions (default 50, at most 1000)')
    .option('--rebuild', 'rebuild the index from the stored reports first (lists every report)')
    .option('--json', 'print the history as JSON')
    .action(async (options) => {
      ctx.done(await historyCommand(options, ctx.global(), ctx.loadServices, ctx.io));
    });

  program
    .command('plan')
    .description(
      'the timeline of every enabled collector, overlaps within credential groups, and staggered schedules',
    )
    .option('--from <time>', 'start of the window (default: this hour)', isoTime)
    .option('--hours <n>', 'length of the window in hours', positiveNumber, 24)
    .option('--check', 'exit 1 when members of a group overlap (for CI or a deploy script)')
    .option('--json', 'print the plan as JSON')
    .action(async (options) => {
      ctx.done(await planCommand(options, ctx.global(), ctx.loadServices, ctx.io));
    });
}

/** `collect`, `pause`, `resume` and `backfill`: one collector at a time. Registered in the order `--help` lists them. */
export function addCollectorCommands(program: Command, ctx: CommandContext): void {
  program
    .command('collect')
    .description('run one collector in this process')
    .argument('<name>', 'collector name')
    .option('--options <json>', 'options as JSON, merged over the configured ones', jsonObject)
    .option('--json', 'print the run record as JSON')
    .action(async (name: string, options) => {
      ctx.done(
        await ctx.stop.during(() => collectCommand(name, options, ctx.global(), ctx.loadServices, ctx.io)),
      );
    });

  program
    .command('pause')
    .description('pause a collector (or every member of group:G) without a redeploy: its runs are skipped')
    .argument('<target>', 'a collector name, or group:NAME')
    .requiredOption('--reason <text>', 'why (shown in every report that skips it)')
    .option('--until <time>', 'resume by itself at this ISO time', isoTime)
    .option('--by <name>', 'who pauses (default: your user name at this host)')
    .option('--json', 'print the pause as JSON')
    .action(async (target: string, options) => {
      ctx.done(await pauseCommand(target, options, ctx.global(), ctx.loadServices, ctx.io));
    });

  program
    .command('resume')
    .description('resume a paused collector (or group:G); exit 1 if it was not paused')
    .argument('<target>', 'a collector name, or group:NAME')
    .option('--json', 'print what was resumed as JSON')
    .action(async (target: string, options) => {
      ctx.done(await resumeCommand(target, options, ctx.global(), ctx.loadServices, ctx.io));
    });

  program
    .command('backfill')
    .description('run a collector once per scheduled time of its cron in a past range (run again to resume)')
    .argument('<name>', 'collector name')
    .requiredOption('--from <time>', 'start of the range (ISO time, included)', isoTime)
    .requiredOption('--to <time>', 'end of the range (ISO time, included; not in the future)', isoTime)
    .addOption(
      new Option(
        '--overlap <policy>',
        'how its runs overlap each other (default buffer_all: one after another)',
      ).choices(BACKFILL_OVERLAP_POLICIES),
    )
    .addOption(new Option('--mode <mode>', 'dispatch mode').choices(DISPATCH_MODES))
    .option('--dry-run', 'print the scheduled times and what each run would be sent; send nothing')
    .option('--json', 'print the report (or the dry run) as JSON')
    .action(async (name: string, options) => {
      ctx.done(await backfillCommand(name, options, ctx.global(), ctx.loadServices, ctx.io));
    });
}

/** `queues` and `deploy`: the Google Cloud project, from the config alone. Registered in the order `--help` lists them. */
export function addSetupCommands(program: Command, ctx: CommandContext): void {
  program
    .command('queues')
    .description(
      'print the gcloud commands that create or update the Cloud Tasks queues (rate limits, concurrency, retries)',
    )
    .option('--apply', 'run them (gcloud must be installed and authenticated)')
    .option('--json', 'print the queue plan as JSON')
    .action(async (options) => {
      // Only the config: no stores or clients are needed to print or apply queue settings.
      const global = ctx.global();
      const config = await loadConfig(configPath(global.config, ctx.io.env, ctx.io.cwd), ctx.io.env, {
        collectors: (ctx.overrides.registry ?? new CollectorRegistry(builtinCollectors())).all(),
      });
      ctx.done(await queuesCommand(options, config, ctx.io));
    });

  program
    .command('deploy')
    .description(
      'print the gcloud commands that set up the Google Cloud project from the config: APIs, service account and IAM, bucket and lifecycle, function, Cloud Scheduler jobs, queues, alert metric and policy',
    )
    .option('--apply', 'run them (gcloud must be installed and authenticated); each step is create-or-update')
    .option(
      '--check',
      'compare the running project with the config through read-only calls; exit 1 on a difference',
    )
    .action(async (options) => {
      const global = ctx.global();
      ctx.done(
        await deployCommand(
          options,
          configPath(global.config, ctx.io.env, ctx.io.cwd),
          (ctx.overrides.registry ?? new CollectorRegistry(builtinCollectors())).names(),
          ctx.io,
          ...(ctx.gcloud ? [ctx.gcloud] : []),
        ),
      );
    });
}

function isoTime(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('expected an ISO 8601 time like 2026-11-22T14:00:00Z');
  }
  return value;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 24 * 31)
    throw new InvalidArgumentError('expected a number of hours between 0 and 744');
  return n;
}

function jsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('expected a JSON object, e.g. \'{"departements":["75"]}\'');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new InvalidArgumentError('expected a JSON object');
  return parsed as Record<string, unknown>;
}
