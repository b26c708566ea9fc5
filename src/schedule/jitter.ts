import type { CollectorConfig } from '../config/types';

/**
 * Jitter: a random delay before a run is dispatched, so that collectors sharing an upstream (or a group
 * sharing an account) do not all start on the same second. A collector's own `jitter_seconds` is drawn
 * per run; its group's (`scheduler.groups.<G>.jitter_seconds`) is drawn once per execution and shared by
 * the group's members, so the group moves as one. Both come from the injected random source.
 *
 * The delay is an offset from the execution's start ("not before start + delay"): in HTTP mode the
 * dispatcher waits for it, in tasks mode it becomes the task's schedule time. It is capped so that the
 * run still fits within the execution's deadline (deadline minus the collector's timeout, at least 0).
 */
export function jitterDelays(
  collectors: readonly CollectorConfig[],
  random: () => number,
  deadlineMs: number,
): number[] {
  const groupDraws = new Map<string, number>();
  return collectors.map((c) => {
    const s = c.scheduling;
    let group = 0;
    if (c.group && s.groupJitterSeconds > 0) {
      if (!groupDraws.has(c.group)) groupDraws.set(c.group, draw(random, s.groupJitterSeconds));
      group = groupDraws.get(c.group)!;
    }
    const own = s.jitterSeconds > 0 ? draw(random, s.jitterSeconds) : 0;
    const cap = Math.max(0, deadlineMs - c.timeoutSeconds * 1000);
    return Math.min(group + own, cap);
  });
}

/** A whole number of milliseconds in [0, seconds). */
function draw(random: () => number, seconds: number): number {
  return Math.floor(random() * seconds * 1000);
}
