import * as v from 'valibot';
import { closest } from '../util/suggest';
import { DISPATCH_MODES, type CollectorConfig, type Config, type DispatchMode } from '../config/types';
import { RequestError } from '../errors';
import type { BackfillAsk } from '../schedule/run-plan';
import { compileSchedule } from '../schedule/cron';
import { describeIssue, problemText } from '../util/issues';

export const TRIGGER_SOURCES = ['cloud-scheduler', 'http', 'cli'] as const;
export type TriggerSource = (typeof TRIGGER_SOURCES)[number];

/**
 * tick: the collectors due at a time; explicit: the ones named; manual: every enabled one; backfill: one
 * collector once per scheduled time of a past range (schedule/backfill.ts).
 */
export const TRIGGER_KINDS = ['tick', 'explicit', 'manual', 'backfill'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** What was asked for, from an HTTP request or the CLI, before it meets the config. */
export interface Trigger {
  source: TriggerSource;
  /** Cloud Scheduler's X-CloudScheduler-ScheduleTime, or an explicit `at`. */
  tickMs: number | null;
  jobName: string | null;
  collectors: string[] | null;
  mode: DispatchMode | null;
  dryRun: boolean;
  force: boolean;
  /** A backfill: the collector, range and overlap policy (then `collectors` and `tickMs` are unused). */
  backfill?: BackfillAsk;
}

/** A trigger with what was asked for; asking for nothing is a manual trigger (every enabled collector). */
export function makeTrigger(source: TriggerSource, asked: Partial<Omit<Trigger, 'source'>> = {}): Trigger {
  return {
    source,
    tickMs: null,
    jobName: null,
    collectors: null,
    mode: null,
    dryRun: false,
    force: false,
    ...asked,
  };
}

export interface Selection {
  kind: TriggerKind;
  /** In config order. */
  collectors: CollectorConfig[];
  /** The tick, or the trigger's own time for manual and explicit runs. */
  scheduledTimeMs: number;
}

const MINUTE_MS = 60_000;

/** Which collectors a trigger runs (see DESIGN.md). Unknown names are a 400 and nothing runs. */
export function selectCollectors(config: Config, trigger: Trigger, nowMs: number): Selection {
  if (trigger.backfill) {
    const { backfill, ...rest } = trigger;
    const named = selectCollectors(config, { ...rest, collectors: [backfill.collector] }, nowMs);
    return { kind: 'backfill', collectors: named.collectors, scheduledTimeMs: nowMs };
  }
  if (trigger.collectors) {
    const known = new Map(config.collectors.map((c) => [c.name, c]));
    const unknown = trigger.collectors.filter((n) => !known.has(n));
    if (unknown.length > 0) {
      const hints = unknown.map((n) => {
        const s = closest(n, known.keys());
        return s ? `"${n}" (did you mean "${s}"?)` : `"${n}"`;
      });
      throw new RequestError(
        `unknown collector${unknown.length > 1 ? 's' : ''} ${hints.join(', ')}; configured: ${[...known.keys()].join(', ') || 'none'}`,
        {
          details: { unknown },
        },
        'COLLECTOR_UNKNOWN',
      );
    }
    const wanted = new Set(trigger.collectors);
    return {
      kind: 'explicit',
      collectors: config.collectors.filter((c) => wanted.has(c.name)),
      scheduledTimeMs: trigger.tickMs ?? nowMs,
    };
  }
  if (trigger.tickMs !== null) {
    return {
      kind: 'tick',
      collectors: dueCollectors(config, trigger.tickMs),
      scheduledTimeMs: Math.floor(trigger.tickMs / MINUTE_MS) * MINUTE_MS,
    };
  }
  return { kind: 'manual', collectors: config.collectors.filter((c) => c.enabled), scheduledTimeMs: nowMs };
}

/** Enabled collectors whose schedule fires in the minute of `atMs`, in config order. */
export function dueCollectors(config: Config, atMs: number): CollectorConfig[] {
  return config.collectors.filter(
    (c) => c.enabled && c.schedule !== null && compileSchedule(c.schedule, config.timezone).isDueAt(atMs),
  );
}

const isoTime = v.pipe(
  v.string(),
  v.check(
    (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) && !Number.isNaN(Date.parse(s)),
    'must be an ISO 8601 time like 2026-11-22T14:00:00Z',
  ),
);

const bodySchema = v.strictObject({
  collectors: v.optional(v.union([v.array(v.string()), v.string()], 'must be a list of collector names')),
  at: v.optional(isoTime),
  mode: v.optional(v.picklist(DISPATCH_MODES, `must be one of ${DISPATCH_MODES.join(', ')}`)),
  dryRun: v.optional(v.boolean()),
  force: v.optional(v.boolean()),
});
const BODY_FIELDS = Object.keys(bodySchema.entries);

/** Parses a run request: the optional JSON body and Cloud Scheduler's headers. */
export function parseRunRequest(
  body: Buffer | undefined,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): Trigger {
  let input: unknown = {};
  const text = body?.toString('utf8').trim() ?? '';
  if (text !== '') {
    try {
      input = JSON.parse(text);
    } catch {
      throw new RequestError(
        `request body is not JSON (expected an object like {"collectors": ["dvf"]}): "${text.slice(0, 60)}"`,
      );
    }
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new RequestError('request body must be a JSON object, e.g. {"collectors": ["dvf"]}');
  }
  const result = v.safeParse(bodySchema, input, { abortEarly: false });
  if (!result.success) {
    const problems = result.issues.map((i) =>
      problemText(describeIssue(i, { allowed: BODY_FIELDS, noun: 'field' })),
    );
    throw new RequestError(`invalid request body: ${problems.join('; ')}`, { details: { problems } });
  }
  const b = result.output;

  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const scheduleTime = header('x-cloudscheduler-scheduletime');
  let tickMs: number | null = b.at ? Date.parse(b.at) : null;
  if (scheduleTime !== undefined && tickMs === null) {
    tickMs = Date.parse(scheduleTime);
    if (Number.isNaN(tickMs))
      throw new RequestError(
        `X-CloudScheduler-ScheduleTime header "${scheduleTime}" is not an RFC 3339 time`,
      );
  }
  const fromScheduler = scheduleTime !== undefined || header('x-cloudscheduler') === 'true';
  return {
    source: fromScheduler ? 'cloud-scheduler' : 'http',
    tickMs,
    jobName: header('x-cloudscheduler-jobname') ?? null,
    collectors: b.collectors === undefined ? null : splitNames(b.collectors),
    mode: b.mode ?? null,
    dryRun: b.dryRun ?? false,
    force: b.force ?? false,
  };
}

/** Names from a list or a comma-separated string, trimmed and de-duplicated. */
export function splitNames(value: string | readonly string[]): string[] {
  const list = typeof value === 'string' ? value.split(',') : value;
  const names = [...new Set(list.map((s) => s.trim()).filter((s) => s !== ''))];
  if (names.length === 0)
    throw new RequestError(
      'collectors: the list is empty; name at least one collector or leave the field out',
    );
  return names;
}
