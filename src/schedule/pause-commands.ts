import type { Config } from '../config/types';
import { RequestError } from '../errors';
import type { ObjectStore } from '../store/types';
import { resetStreak } from './failure-pause';
import { describePause, parsePauseTarget, PauseStore, type PauseRecord } from './pause';

/** Pause and resume as the CLI and the routes ask for them. */

type PauseDeps = { config: Config; stores: { state: ObjectStore }; clock: { now(): number } };

/** `scheduler pause` and `POST /pauses`: pauses NAME or group:G, with who, why and until when. */
export async function pauseTarget(
  deps: PauseDeps,
  text: string,
  note: { reason: string; by: string; until: number | null },
): Promise<PauseRecord> {
  const target = parsePauseTarget(text, deps.config);
  return (await new PauseStore(deps.stores.state, () => deps.clock.now()).pause(target, note)).record;
}

/**
 * `scheduler resume` and `DELETE /pauses/NAME`: the pause removed, or null when the target was not
 * paused. A collector paused through its group is resumed with its group (said in the error). Failure
 * counts of what is resumed start again, so `pause_after_failures` does not pause it at the next failure.
 */
export async function resumeTarget(deps: PauseDeps, text: string): Promise<PauseRecord | null> {
  const target = parsePauseTarget(text, deps.config);
  const store = new PauseStore(deps.stores.state, () => deps.clock.now());
  const record = await store.resume(target);
  if (!record && target.kind === 'collector') {
    const collector = deps.config.collectors.find((c) => c.name === target.name)!;
    const via = await store.pauseOf(collector);
    if (via)
      throw new RequestError(
        `${target.name} is ${describePause(via)}; resume the group (resume ${via.target}) to resume it`,
      );
  }
  const names =
    target.kind === 'group'
      ? deps.config.collectors.filter((c) => c.group === target.name).map((c) => c.name)
      : [target.name];
  await Promise.all(names.map((n) => resetStreak(deps.stores.state, n)));
  return record;
}
