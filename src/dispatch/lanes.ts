import type { DispatchTarget } from './types';

/**
 * One lane per group (its members in config order) and one per ungrouped collector (its runs one after
 * another: a catch-up before the tick's own run, a backfill's times), unless a target names its own.
 */
export function lanes(targets: readonly DispatchTarget[]): DispatchTarget[][] {
  const byGroup = new Map<string, DispatchTarget[]>();
  const out: DispatchTarget[][] = [];
  for (const t of targets) {
    const key = t.group ? `group:${t.group}` : `lane:${t.lane ?? t.name}`;
    let lane = byGroup.get(key);
    if (!lane) {
      lane = [];
      byGroup.set(key, lane);
      out.push(lane);
    }
    lane.push(t);
  }
  return out;
}
