import { createHash } from 'node:crypto';
import type { CollectorConfig, Config } from '../config/types';

/**
 * Names in Cloud Tasks: which queue a collector's tasks go to, and the task ID of one run. Both are pure
 * functions of the config, so the dispatcher, `scheduler queues` and dry runs always agree.
 */

/** Cloud Tasks accepts a dispatch deadline for HTTP tasks between these (Task.dispatch_deadline). */
export const DISPATCH_DEADLINE_LIMITS_SECONDS = Object.freeze({ min: 15, max: 1800 });

/** A queue ID: letters, digits and hyphens, at most 100 characters. */
const MAX_QUEUE_ID = 100;

/**
 * The task ID of one run: `<hash>-<collector>-<time>`, the hash being the first 16 hex digits of
 * SHA-256 over (collector, scheduled time). The same run always gets the same ID, so a repeated trigger
 * is refused by Cloud Tasks itself (ALREADY_EXISTS). The hash comes first because Cloud Tasks spreads
 * tasks by name and warns that sequential prefixes (timestamps) raise latency; the rest is for people.
 */
export function taskIdFor(collector: string, scheduledTime: string, distinct?: string): string {
  const iso = new Date(scheduledTime).toISOString();
  // A forced re-run (`force: true`) is its own task: the execution's id joins the hash; so does a
  // backfill's key (`backfill:<id>`), so its tasks are its own, the same on every repeat.
  const hash = createHash('sha256')
    .update(`${collector}\n${iso}${distinct ? `\n${distinct}` : ''}`)
    .digest('hex')
    .slice(0, 16);
  return `${hash}-${collector.replace(/[^A-Za-z0-9_-]/g, '-')}-${iso.replace(/[-:.]/g, '')}`;
}

/**
 * The queue a collector's tasks go to. A group member goes to its group's queue, `<Q>-<group>`, Q being
 * the queue of the group's first member in config order (its `queue`, else `scheduler.tasks.queue`):
 * a queue of its own, which `scheduler queues` creates with max concurrent dispatches 1, so that Cloud
 * Tasks itself never runs two members at once, and no other collector waits behind them. Any other
 * collector goes to its `queue`, else `scheduler.tasks.queue`.
 */
export function queueIdFor(
  config: Config,
  collector: Pick<CollectorConfig, 'name' | 'group' | 'queue'>,
): string {
  if (collector.group) return groupQueueId(config, collector.group);
  return collector.queue ?? config.scheduler.tasks.queue;
}

export function groupQueueId(config: Config, group: string): string {
  const first = config.collectors.find((c) => c.group === group);
  const base = first?.queue ?? config.scheduler.tasks.queue;
  // Group names may hold "_", which queue IDs may not.
  const suffix = `-${group.replace(/[^A-Za-z0-9-]/g, '-')}`;
  return `${base.slice(0, MAX_QUEUE_ID - suffix.length)}${suffix}`;
}

export function queuePath(project: string, location: string, queueId: string): string {
  return `projects/${project}/locations/${location}/queues/${queueId}`;
}

/**
 * A collector's timeout as a dispatch deadline: how long Cloud Tasks waits for the answer before it
 * counts the attempt as failed and retries. Clamped to what Cloud Tasks accepts, with a warning when
 * clamping shortens it (the run may outlive the deadline and be retried while still going).
 */
export function dispatchDeadline(timeoutMs: number): { seconds: number; warning: string | null } {
  const wanted = Math.ceil(timeoutMs / 1000);
  const { min, max } = DISPATCH_DEADLINE_LIMITS_SECONDS;
  if (wanted > max) {
    return {
      seconds: max,
      warning: `timeout_seconds ${wanted} is over Cloud Tasks' ${max} s dispatch deadline: Cloud Tasks stops waiting after ${max} s and retries while the run may still be going`,
    };
  }
  if (wanted < min) {
    return {
      seconds: min,
      warning: `timeout_seconds ${timeoutMs / 1000} is under Cloud Tasks' ${min} s minimum dispatch deadline; ${min} s is used`,
    };
  }
  return { seconds: wanted, warning: null };
}
