import type { Config } from '../config/types';
import { queueIdFor } from './naming';

/** Cloud Tasks reads a minimum backoff of 0 as "default"; its smallest explicit one is 0.1 s. */
const MIN_BACKOFF_SECONDS = 0.1;

/** One queue the config dispatches to, with the settings `scheduler queues` gives it. */
export interface QueueSpec {
  id: string;
  /** Collectors whose tasks go there, in config order. */
  collectors: string[];
  /** The credential group it serialises, if it is a group's queue. */
  group: string | null;
  maxDispatchesPerSecond: number;
  /** 1 for a group's queue: Cloud Tasks then never runs two members at once. */
  maxConcurrentDispatches: number;
  /** -1: unlimited. */
  maxAttempts: number;
  minBackoffSeconds: number;
  maxBackoffSeconds: number;
  /** Things the operator should know (a member's own `queue` not used, retry policies merged). */
  notes: string[];
}

/**
 * The queues of a config, in order of first use, with rate limits and retry config: rates, concurrency
 * and attempts from `scheduler.tasks`, backoffs from the members' retry policies (the shortest minimum,
 * the longest maximum, when members differ). Every configured collector counts, disabled ones too: an
 * explicit trigger may run them.
 */
export function planQueues(config: Config): QueueSpec[] {
  const tasks = config.scheduler.tasks;
  const specs = new Map<string, QueueSpec>();
  for (const c of config.collectors) {
    const id = queueIdFor(config, c);
    let spec = specs.get(id);
    if (!spec) {
      spec = {
        id,
        collectors: [],
        group: c.group,
        maxDispatchesPerSecond: tasks.maxDispatchesPerSecond,
        maxConcurrentDispatches: c.group ? 1 : tasks.maxConcurrentDispatches,
        maxAttempts: tasks.maxAttempts,
        minBackoffSeconds: Math.max(MIN_BACKOFF_SECONDS, c.retry.minBackoffSeconds),
        maxBackoffSeconds: Math.max(MIN_BACKOFF_SECONDS, c.retry.maxBackoffSeconds),
        notes: [],
      };
      specs.set(id, spec);
    } else if (
      spec.minBackoffSeconds !== Math.max(MIN_BACKOFF_SECONDS, c.retry.minBackoffSeconds) ||
      spec.maxBackoffSeconds !== Math.max(MIN_BACKOFF_SECONDS, c.retry.maxBackoffSeconds)
    ) {
      spec.minBackoffSeconds = Math.max(
        MIN_BACKOFF_SECONDS,
        Math.min(spec.minBackoffSeconds, c.retry.minBackoffSeconds),
      );
      spec.maxBackoffSeconds = Math.max(spec.maxBackoffSeconds, c.retry.maxBackoffSeconds);
      note(
        spec,
        "members' retry backoffs differ; the queue uses the shortest minimum and the longest maximum",
      );
    }
    if (spec.group !== c.group) {
      // A queue named like a group's, used by a collector outside it, would be serialised with it.
      note(spec, `${c.name} shares this queue but is not in group ${spec.group ?? c.group}`);
    }
    if (c.group && c.queue) {
      note(spec, `${c.name} is in group ${c.group}: its tasks go to ${id}, not to its queue ${c.queue}`);
    }
    spec.collectors.push(c.name);
  }
  return [...specs.values()];
}

function note(spec: QueueSpec, text: string): void {
  if (!spec.notes.includes(text)) spec.notes.push(text);
}

export interface GcloudCommands {
  /** Exits 0 when the queue exists. */
  describe: string[];
  create: string[];
  update: string[];
}

/** gcloud's arguments (without `gcloud`) that check, create and update one queue. */
export function gcloudCommands(spec: QueueSpec, project: string, location: string): GcloudCommands {
  const where = [`--project=${project}`, `--location=${location}`];
  const settings = [
    `--max-dispatches-per-second=${spec.maxDispatchesPerSecond}`,
    `--max-concurrent-dispatches=${spec.maxConcurrentDispatches}`,
    `--max-attempts=${spec.maxAttempts}`,
    `--min-backoff=${spec.minBackoffSeconds}s`,
    `--max-backoff=${spec.maxBackoffSeconds}s`,
  ];
  return {
    describe: ['tasks', 'queues', 'describe', spec.id, ...where],
    create: ['tasks', 'queues', 'create', spec.id, ...where, ...settings],
    update: ['tasks', 'queues', 'update', spec.id, ...where, ...settings],
  };
}

/** A POSIX shell script that creates each queue, or updates it when it exists. */
export function queuesScript(config: Config, project: string, location: string): string {
  const specs = planQueues(config);
  const lines = [
    `# Cloud Tasks queues for ${config.source} (project ${project}, location ${location})`,
    '# Pipe into sh to apply, or run `scheduler queues --apply`.',
  ];
  for (const spec of specs) {
    const cmd = gcloudCommands(spec, project, location);
    lines.push(
      '',
      `# ${spec.id}: ${spec.collectors.join(', ')}${spec.group ? ` (group ${spec.group}: one at a time)` : ''}`,
      ...spec.notes.map((n) => `# note: ${n}`),
      `if gcloud ${cmd.describe.join(' ')} >/dev/null 2>&1; then`,
      `  gcloud ${cmd.update.join(' ')}`,
      'else',
      `  gcloud ${cmd.create.join(' ')}`,
      'fi',
    );
  }
  return lines.join('\n') + '\n';
}
