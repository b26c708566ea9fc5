import { compactTime } from '../runtime/output';
import { isPreconditionFailed, putJson, readJson, type ObjectStore } from '../store/types';

/**
 * The state a scheduled run leaves behind, so that every instance agrees on what ran:
 *
 * - a claim per (collector, scheduled time), `<state>/schedule/claims/<collector>/<time>.json`, created
 *   only if absent before the run is dispatched: of two instances (two ticks, a tick and a catch-up) the
 *   one that creates it runs that time, the other does not. A claim whose run never reached the
 *   collector is given back, so a later tick can catch the time up.
 * - a watermark per collector, `<state>/schedule/watermarks/<collector>.json`: the latest scheduled time
 *   it ran for (or was deliberately skipped for: paused, still running). It only moves forward, and
 *   bounds how far back a catch-up looks.
 *
 * Like tick markers, claims are one small object per run: a lifecycle rule deleting
 * `state/schedule/claims/` after 30 days keeps the bucket tidy.
 */
export interface RunClaim {
  collector: string;
  scheduledTime: string;
  executionId: string;
  /** tick or catchup. */
  kind: string;
  claimedAt: string;
  /**
   * Past this, a claim whose execution wrote no report is dead (its instance was killed before it
   * settled): the next tick takes the time over. Its claim time plus the deadline and report budget.
   */
  deadAfter: string;
  /** The dead execution this claim took over from. */
  takenOverFrom?: string;
}

export interface Watermark {
  collector: string;
  scheduledTime: string;
  executionId: string;
  updatedAt: string;
}

export function claimKey(collector: string, scheduledTimeMs: number): string {
  return `schedule/claims/${collector}/${compactTime(new Date(scheduledTimeMs))}.json`;
}

function watermarkKey(collector: string): string {
  return `schedule/watermarks/${collector}.json`;
}

export type ClaimResult =
  { claimed: true; release(): Promise<void> } | { claimed: false; holder: RunClaim | null };

/**
 * Claims one scheduled run; `claimed: false` names the execution that claimed it first. A claim past
 * its `deadAfter` whose execution `isDead` (no report: its instance was killed) is taken over by
 * compare-and-swap, as tick claims are: of two instances taking it over, one wins.
 */
export async function claimRun(
  state: ObjectStore,
  claim: RunClaim,
  isDead: (holder: RunClaim) => Promise<boolean> = async () => false,
): Promise<ClaimResult> {
  const key = claimKey(claim.collector, Date.parse(claim.scheduledTime));
  const held = (generation: string): ClaimResult => ({
    claimed: true,
    release: async () => {
      await state.delete(key, { ifGenerationMatch: generation }).catch((error: unknown) => {
        if (!isPreconditionFailed(error)) throw error;
      });
    },
  });
  try {
    return held((await putJson(state, key, claim, { ifGenerationMatch: 0 })).generation);
  } catch (error) {
    if (!isPreconditionFailed(error)) throw error;
  }
  const holder = await readJson<RunClaim>(state, key).catch(() => null);
  if (
    holder &&
    Date.parse(holder.value.deadAfter) < Date.parse(claim.claimedAt) &&
    (await isDead(holder.value))
  ) {
    try {
      const next: RunClaim = { ...claim, takenOverFrom: holder.value.executionId };
      return held((await putJson(state, key, next, { ifGenerationMatch: holder.generation })).generation);
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
      const winner = await readJson<RunClaim>(state, key).catch(() => null);
      return { claimed: false, holder: winner?.value ?? null };
    }
  }
  return { claimed: false, holder: holder?.value ?? null };
}

/**
 * Whether a scheduled time of a collector is claimed by a run that may still be alive (a claim past its
 * `deadAfter` may belong to a killed instance: claimRun decides whether to take it over).
 */
export async function isClaimed(
  state: ObjectStore,
  collector: string,
  scheduledTimeMs: number,
  nowMs: number,
): Promise<boolean> {
  const found = await readJson<RunClaim>(state, claimKey(collector, scheduledTimeMs));
  return found !== null && !(Date.parse(found.value.deadAfter) < nowMs);
}

/** What a tick knows of a watermark when it read it: its time and the generation it read. */
export interface KnownWatermark {
  ms: number | null;
  generation: string | null;
}

export async function readWatermark(state: ObjectStore, collector: string): Promise<number | null> {
  return (await readWatermarkRecord(state, collector)).ms;
}

export async function readWatermarkRecord(state: ObjectStore, collector: string): Promise<KnownWatermark> {
  const found = await readJson<Watermark>(state, watermarkKey(collector));
  return found
    ? { ms: Date.parse(found.value.scheduledTime), generation: found.generation }
    : { ms: null, generation: null };
}

/**
 * Moves a collector's watermark forward to `scheduledTimeMs` (never back), by compare-and-swap. With
 * the watermark as the tick read it (`known`), the first try writes without reading it again.
 */
export async function advanceWatermark(
  state: ObjectStore,
  mark: { collector: string; scheduledTimeMs: number; executionId: string; nowMs: number },
  known?: KnownWatermark,
): Promise<void> {
  const next: Watermark = {
    collector: mark.collector,
    scheduledTime: new Date(mark.scheduledTimeMs).toISOString(),
    executionId: mark.executionId,
    updatedAt: new Date(mark.nowMs).toISOString(),
  };
  let current: KnownWatermark | null = known ?? null;
  for (let tries = 0; tries < 5; tries++) {
    current ??= await readWatermarkRecord(state, mark.collector);
    if (current.ms !== null && current.ms >= mark.scheduledTimeMs) return;
    try {
      await putJson(state, watermarkKey(mark.collector), next, {
        ifGenerationMatch: current.generation ?? 0,
      });
      return;
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
      current = null;
    }
  }
}
