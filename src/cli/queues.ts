import type { Config } from '../config/types';
import { gcloudRunner, type GcloudRunner } from '../deploy/gcloud';
import { gcloudCommands, planQueues, queuesScript } from '../tasks/queues';
import { EXIT, type CliIO } from './types';

export interface QueuesOptions {
  apply?: boolean;
  json?: boolean;
}

export { gcloudRunner, type GcloudResult, type GcloudRunner } from '../deploy/gcloud';

/**
 * `scheduler queues`: the gcloud commands that create or update every queue the config dispatches to,
 * with its rate limits, max concurrent dispatches (1 for a credential group's queue) and retry config.
 * Printed as a shell script; `--apply` runs them (describe, then update or create); `--json` prints the
 * plan. A deploy step, not a runtime one: the scheduler itself never changes queues.
 */
export async function queuesCommand(
  options: QueuesOptions,
  config: Config,
  io: CliIO,
  run: GcloudRunner = gcloudRunner('gcloud', io.env),
): Promise<number> {
  const { project, location } = config.scheduler.tasks;
  if (!project || !location) {
    io.stderr(
      `error: scheduler.tasks.project and scheduler.tasks.location are needed to name the queues (${config.source})\n`,
    );
    return EXIT.usage;
  }
  const specs = planQueues(config);
  if (options.json) {
    const queues = specs.map((spec) => ({
      ...spec,
      commands: Object.fromEntries(
        Object.entries(gcloudCommands(spec, project, location)).map(([k, args]) => [k, ['gcloud', ...args]]),
      ),
    }));
    io.stdout(JSON.stringify({ project, location, queues }, null, 2) + '\n');
  } else if (!options.apply) {
    io.stdout(queuesScript(config, project, location));
  }
  if (!options.apply) return EXIT.ok;

  let failures = 0;
  for (const spec of specs) {
    const cmd = gcloudCommands(spec, project, location);
    const exists = (await run(cmd.describe)).code === 0;
    const args = exists ? cmd.update : cmd.create;
    if (!options.json) io.stdout(`gcloud ${args.join(' ')}\n`);
    const result = await run(args);
    if (result.code === 0) {
      io.stderr(`queue ${spec.id}: ${exists ? 'updated' : 'created'}\n`);
    } else {
      failures++;
      io.stderr(
        `queue ${spec.id}: gcloud exited ${result.code}${result.stderr ? `: ${result.stderr.trim()}` : ''}\n`,
      );
    }
  }
  return failures > 0 ? EXIT.failed : EXIT.ok;
}
