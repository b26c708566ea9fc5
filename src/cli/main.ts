import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { builtinCollectors } from '../../collectors';
import { ConfigError } from '../config/errors';
import { configPath, loadConfig } from '../config/load';
import { DISPATCH_MODES } from '../config/types';
import { errorMessage, isSchedulerError } from '../errors';
import { CollectorRegistry } from '../runtime/registry';
import { createServices, type ServiceOptions } from '../create-services';
import { createLogger, type LogEntry } from '../util/log';
import { scrub } from '../util/secrets';
import { BACKFILL_OVERLAP_POLICIES } from '../config/scheduling';
import { packageVersion } from '../util/version';
import { backfillCommand } from './backfill';
import { collectCommand } from './collect';
import { deployCommand } from './deploy';
import type { GcloudRunner } from '../deploy/gcloud';
import { historyCommand } from './history';
import { pauseCommand, resumeCommand } from './pause';
import { planCommand } from './plan';
import { queuesCommand } from './queues';
import { runCommand } from './run';
import { statusCommand } from './status';
import { StopSignals } from './stop-signals';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';

export { EXIT, type CliIO } from './types';

export const processIO: CliIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  cwd: process.cwd(),
};

export async function main(
  argv: string[],
  processIo: CliIO = processIO,
  overrides: ServiceOptions = {},
  /** gcloud for `deploy` (default: the binary on io.env's PATH). */
  gcloud?: GcloudRunner,
): Promise<number> {
  // Everything the CLI prints passes here: no secret this process read, no Authorization value or
  // bearer token, no URL credentials or query values, whatever a collector or library said.
  const io: CliIO = {
    ...processIo,
    stdout: (t) => processIo.stdout(scrub(t)),
    stderr: (t) => processIo.stderr(scrub(t)),
  };
  let exitCode: number = EXIT.ok;
  // Ctrl-C or SIGTERM during `run` or `collect` cancels the work in progress (see stop-signals.ts).
  const stop = new StopSignals(io, overrides.shutdown ?? null, processIo === processIO);
  const loadServices: ServicesLoader = async (global) => {
    const registry = overrides.registry ?? new CollectorRegistry(builtinCollectors());
    const config = await loadConfig(configPath(global.config, io.env, io.cwd), io.env, {
      collectors: registry.all(),
    });
    const logger = createLogger(humanSink(io), {}, global.verbose ? 'INFO' : 'WARNING');
    return createServices(config, { env: io.env, logger, ...overrides, registry, shutdown: stop.signal });
  };

  const program = new Command('scheduler')
    .description('Master scheduler for data collectors: run, inspect and plan executions.')
    .option('-c, --config <file>', 'config file (default: $SCHEDULER_CONFIG, else config/config.yaml)')
    .option('-v, --verbose', 'also print collector logs')
    .version(`${packageVersion()} (node ${process.version})`, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

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
      exitCode = await stop.during(() =>
        runCommand(options, program.opts<GlobalOptions>(), loadServices, io),
      );
    });

  program
    .command('status')
    .description('show the latest execution report (or one, with --id)')
    .option('--id <executionId>', 'an execution id')
    .option('--json', 'print the report as JSON')
    .option('--html <file>', 'also write the report page (a timeline and the errors) to this file')
    .action(async (options) => {
      exitCode = await statusCommand(options, program.opts<GlobalOptions>(), loadServices, io);
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
      exitCode = await historyCommand(options, program.opts<GlobalOptions>(), loadServices, io);
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
      exitCode = await planCommand(options, program.opts<GlobalOptions>(), loadServices, io);
    });

  program
    .command('collect')
    .description('run one collector in this process')
    .argument('<name>', 'collector name')
    .option('--options <json>', 'options as JSON, merged over the configured ones', jsonObject)
    .option('--json', 'print the run record as JSON')
    .action(async (name: string, options) => {
      exitCode = await stop.during(() =>
        collectCommand(name, options, program.opts<GlobalOptions>(), loadServices, io),
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
      exitCode = await pauseCommand(target, options, program.opts<GlobalOptions>(), loadServices, io);
    });

  program
    .command('resume')
    .description('resume a paused collector (or group:G); exit 1 if it was not paused')
    .argument('<target>', 'a collector name, or group:NAME')
    .option('--json', 'print what was resumed as JSON')
    .action(async (target: string, options) => {
      exitCode = await resumeCommand(target, options, program.opts<GlobalOptions>(), loadServices, io);
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
      exitCode = await backfillCommand(name, options, program.opts<GlobalOptions>(), loadServices, io);
    });

  program
    .command('queues')
    .description(
      'print the gcloud commands that create or update the Cloud Tasks queues (rate limits, concurrency, retries)',
    )
    .option('--apply', 'run them (gcloud must be installed and authenticated)')
    .option('--json', 'print the queue plan as JSON')
    .action(async (options) => {
      // Only the config: no stores or clients are needed to print or apply queue settings.
      const global = program.opts<GlobalOptions>();
      const config = await loadConfig(configPath(global.config, io.env, io.cwd), io.env, {
        collectors: (overrides.registry ?? new CollectorRegistry(builtinCollectors())).all(),
      });
      exitCode = await queuesCommand(options, config, io);
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
      const global = program.opts<GlobalOptions>();
      exitCode = await deployCommand(
        options,
        configPath(global.config, io.env, io.cwd),
        (overrides.registry ?? new CollectorRegistry(builtinCollectors())).names(),
        io,
        ...(gcloud ? [gcloud] : []),
      );
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    io.stderr(`error: ${errorMessage(error)}\n`);
    if (
      error instanceof ConfigError ||
      isSchedulerError(error, 'REQUEST_INVALID') ||
      isSchedulerError(error, 'COLLECTOR_UNKNOWN') ||
      isSchedulerError(error, 'CONFIG_NOT_FOUND')
    ) {
      return EXIT.usage;
    }
    return EXIT.failed;
  }
}

function humanSink(io: CliIO) {
  return (entry: LogEntry) => {
    const { severity, message, collector } = entry;
    io.stderr(`${severity.toLowerCase()}${collector ? ` [${String(collector)}]` : ''}: ${message}\n`);
  };
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
