import type { CollectorConfig, Config } from '../config/types';
import { closest } from '../util/suggest';
import { RequestError } from '../errors';
import { isPreconditionFailed, putJson, readJson, type ObjectStore } from '../store/types';

/**
 * Pauses, kept in the state store so that every instance sees them without a redeploy:
 * `<state>/schedule/pauses/collectors/<name>.json` and `.../groups/<group>.json`, one object each,
 * holding who paused, when, why and until when. A pause past its `until` is over: readers ignore it,
 * and the next pause or resume of that target replaces or removes it.
 */
export interface PauseRecord {
  /** `xmp-daily`, or `group:xmp-account`. */
  target: string;
  reason: string;
  /** The CLI user, the route's verified caller, or `scheduler (pause_after_failures)`. */
  by: string;
  at: string;
  /** ISO time the pause ends by itself; null: until resumed. */
  until: string | null;
}

const GROUP_PREFIX = 'group:';

export type PauseTarget = { kind: 'collector'; name: string } | { kind: 'group'; name: string };

/** `NAME` or `group:G`, checked against the config (unknown names get a "did you mean"). */
export function parsePauseTarget(text: string, config: Config): PauseTarget {
  const value = text.trim();
  if (value.startsWith(GROUP_PREFIX)) {
    const name = value.slice(GROUP_PREFIX.length);
    const groups = [...new Set(config.collectors.flatMap((c) => (c.group ? [c.group] : [])))];
    if (!groups.includes(name)) {
      const hint = closest(name, groups);
      throw new RequestError(
        `no collector belongs to group "${name}"${hint ? ` (did you mean "group:${hint}"?)` : ''}; groups: ${groups.join(', ') || 'none'}`,
        {},
        'COLLECTOR_UNKNOWN',
      );
    }
    return { kind: 'group', name };
  }
  const names = config.collectors.map((c) => c.name);
  if (!names.includes(value)) {
    const hint = closest(value, names);
    throw new RequestError(
      `unknown collector "${value}"${hint ? ` (did you mean "${hint}"?)` : ''}; configured: ${names.join(', ') || 'none'} (a group is group:NAME)`,
      {},
      'COLLECTOR_UNKNOWN',
    );
  }
  return { kind: 'collector', name: value };
}

export function targetLabel(target: PauseTarget): string {
  return target.kind === 'group' ? `${GROUP_PREFIX}${target.name}` : target.name;
}

function keyOf(target: PauseTarget): string {
  return `schedule/pauses/${target.kind === 'group' ? 'groups' : 'collectors'}/${target.name}.json`;
}

export class PauseStore {
  constructor(
    private readonly state: ObjectStore,
    private readonly now: () => number,
  ) {}

  /**
   * Pauses a collector or a group. Pausing what is already paused replaces the note (a new reason or
   * end), except for `onlyIfAbsent` (automatic pauses never overwrite a person's note).
   */
  async pause(
    target: PauseTarget,
    note: { reason: string; by: string; until: number | null },
    { onlyIfAbsent = false } = {},
  ): Promise<{ record: PauseRecord; created: boolean }> {
    const nowMs = this.now();
    if (note.until !== null && note.until <= nowMs) {
      throw new RequestError(
        `until: ${new Date(note.until).toISOString()} is not in the future (now ${new Date(nowMs).toISOString()})`,
      );
    }
    if (note.reason.trim() === '')
      throw new RequestError('reason: say why (it goes into every report that skips it)');
    const record: PauseRecord = {
      target: targetLabel(target),
      reason: note.reason.trim(),
      by: note.by,
      at: new Date(nowMs).toISOString(),
      until: note.until === null ? null : new Date(note.until).toISOString(),
    };
    for (let tries = 0; tries < 5; tries++) {
      const current = await readJson<PauseRecord>(this.state, keyOf(target));
      const live = current && this.isLive(current.value);
      if (live && onlyIfAbsent) return { record: current.value, created: false };
      try {
        await putJson(this.state, keyOf(target), record, { ifGenerationMatch: current?.generation ?? 0 });
        return { record, created: !live };
      } catch (error) {
        if (!isPreconditionFailed(error)) throw error;
      }
    }
    throw new RequestError(`the pause of ${record.target} kept changing under us; try again`);
  }

  /** Removes a pause; null when the target was not paused (or its pause had ended). */
  async resume(target: PauseTarget): Promise<PauseRecord | null> {
    const current = await readJson<PauseRecord>(this.state, keyOf(target));
    if (!current) return null;
    await this.state
      .delete(keyOf(target), { ifGenerationMatch: current.generation })
      .catch((error: unknown) => {
        if (!isPreconditionFailed(error)) throw error;
      });
    return this.isLive(current.value) ? current.value : null;
  }

  /** Every pause in force, collectors first, then groups. */
  async list(): Promise<PauseRecord[]> {
    const out: PauseRecord[] = [];
    for (const folder of ['collectors', 'groups']) {
      for await (const info of this.state.list(`schedule/pauses/${folder}/`)) {
        const found = await readJson<PauseRecord>(this.state, info.key).catch(() => null);
        if (found && this.isLive(found.value)) out.push(found.value);
      }
    }
    return out;
  }

  /** The pause that holds a collector back (its own, else its group's), or null. */
  async pauseOf(collector: Pick<CollectorConfig, 'name' | 'group'>): Promise<PauseRecord | null> {
    const own = await readJson<PauseRecord>(this.state, keyOf({ kind: 'collector', name: collector.name }));
    if (own && this.isLive(own.value)) return own.value;
    if (!collector.group) return null;
    const group = await readJson<PauseRecord>(this.state, keyOf({ kind: 'group', name: collector.group }));
    return group && this.isLive(group.value) ? group.value : null;
  }

  private isLive(record: PauseRecord): boolean {
    return record.until === null || Date.parse(record.until) > this.now();
  }
}

/** Which pause, of those listed, holds a collector back. */
export function pauseFor(
  pauses: readonly PauseRecord[],
  collector: Pick<CollectorConfig, 'name' | 'group'>,
): PauseRecord | null {
  return (
    pauses.find((p) => p.target === collector.name) ??
    (collector.group ? pauses.find((p) => p.target === `${GROUP_PREFIX}${collector.group}`) : undefined) ??
    null
  );
}

/** One line for reports and skips: `paused (group:G) by alice at ... until ...: the reason`. */
export function describePause(p: PauseRecord, { showGroup = true } = {}): string {
  const through = showGroup && p.target.startsWith(GROUP_PREFIX) ? ` (${p.target})` : '';
  return `paused${through} by ${p.by} at ${p.at}${p.until ? ` until ${p.until}` : ''}: ${p.reason}`;
}
