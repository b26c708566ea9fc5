import { Command, CommanderError } from 'commander';
import { builtinCollectors } from '../../collectors';
import { ConfigError } from '../config/errors';
import { configPath, loadConfig } from '../config/load';
import { errorMessage, isSchedulerError } from '../errors';
import { CollectorRegistry } from '../runtime/registry';
import { createServices, type ServiceOptions } from '../create-services';
import { createLogger, type LogEntry } from '../util/log';
import { scrub } from '../util/secrets';
import { packageVersion } from '../util/version';
import type { GcloudRunner } from '../deploy/gcloud';
import {
  addCollectorCommands,
  addExecutionCommands,
  addSetupCommands,
  type CommandContext,
} from './commands';
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

  const ctx: CommandContext = {
    io,
    loadServices,
    stop,
    overrides,
    ...(gcloud ? { gcloud } : {}),
    global: () => program.opts<GlobalOptions>(),
    done: (code) => {
      exitCode = code;
    },
  };
  addExecutionCommands(program, ctx);
  addCollectorCommands(program, ctx);
  addSetupCommands(program, ctx);

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
