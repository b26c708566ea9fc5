import type { Config } from '../config/types';
import { ConfigError } from '../config/errors';
import { compileSchedule } from '../schedule/cron';
import { cronFields, expandField, renderField } from '../schedule/cron-fields';

/**
 * The Cloud Scheduler jobs that trigger the function: neither one job per distinct cron nor one
 * coarsest common tick, but the collectors' firing minutes split into disjoint jobs.
 *
 * - One job per distinct cron fires the same minute twice when two crons meet (`*\/30` and `0 4 * * *`
 *   at 04:00): two executions, two reports, and each runs every collector due at that tick.
 * - One common tick (the coarsest that hits every cron minute, `*\/5` for the default config) fires 288
 *   times a day for 49 ticks that run something: 83 % of its executions are empty.
 *
 * Here every (hour, minute) some enabled collector fires at belongs to exactly one job, and a job's
 * hours and minutes are those of the collectors behind it: no minute is triggered twice, and a job only
 * fires where a collector does (day-of-month/month/day-of-week fields are kept when all the collectors
 * of an (hour, minute) share them; otherwise it fires daily there, and those days are its empty ticks).
 * The default config needs two jobs, `0,30 * * * *` and `5 1 * * *`, and has no empty tick.
 * A job sends no body: the function runs the collectors due at its X-CloudScheduler-ScheduleTime.
 */
export interface JobSpec {
  id: string;
  schedule: string;
  timeZone: string;
  /** The collectors whose ticks it carries (for the description and the checks). */
  collectors: string[];
}

export interface JobsPlan {
  jobs: JobSpec[];
  /** Over the reference week: how often the jobs fire, and how many of those ticks run nothing. */
  week: { ticks: number; empty: number };
}

/** A fixed week (Monday 2026-01-05, in the config's zone) over which empty ticks are counted. */
const REFERENCE_WEEK_START = Date.UTC(2026, 0, 5);
const WEEK_MS = 7 * 86_400_000;

export function planJobs(config: Config, functionName: string): JobsPlan {
  const daySpecs = new Map<string, Set<string>>();
  const collectorsAt = new Map<string, Set<string>>();
  for (const c of config.collectors) {
    if (!c.enabled || c.schedule === null) continue;
    const fields = cronFields(c.schedule);
    const minutes = fields && expandField(fields[0]!, 0, 59);
    const hours = fields && expandField(fields[1]!, 0, 23);
    if (!fields || !minutes || !hours) {
      throw new ConfigError(config.source, [
        {
          path: `collectors.${c.name}.schedule`,
          line: null,
          message: `"${c.schedule}" has minute or hour fields that cannot be split into Cloud Scheduler jobs (use numbers, ranges, steps and lists)`,
        },
      ]);
    }
    const day = fields.slice(2).join(' ');
    for (const h of hours) {
      for (const m of minutes) {
        const key = `${h}:${m}`;
        daySpecs.set(key, (daySpecs.get(key) ?? new Set()).add(day));
        collectorsAt.set(key, (collectorsAt.get(key) ?? new Set()).add(c.name));
      }
    }
  }

  // (day spec, minute) → hours; then (day spec, hours) → minutes: one job each.
  const hoursOf = new Map<string, { day: string; minute: number; hours: number[] }>();
  for (const [key, days] of daySpecs) {
    const [h, m] = key.split(':').map(Number) as [number, number];
    const day = days.size === 1 ? [...days][0]! : '* * *';
    const k = `${day}|${m}`;
    const entry = hoursOf.get(k) ?? { day, minute: m, hours: [] };
    entry.hours.push(h);
    hoursOf.set(k, entry);
  }
  const groups = new Map<
    string,
    { day: string; hours: number[]; minutes: number[]; collectors: Set<string> }
  >();
  for (const { day, minute, hours } of hoursOf.values()) {
    const sorted = [...hours].sort((a, b) => a - b);
    const k = `${day}|${sorted.join(',')}`;
    const group = groups.get(k) ?? { day, hours: sorted, minutes: [], collectors: new Set<string>() };
    group.minutes.push(minute);
    for (const h of sorted)
      for (const name of collectorsAt.get(`${h}:${minute}`) ?? []) group.collectors.add(name);
    groups.set(k, group);
  }

  const order = config.collectors.map((c) => c.name);
  const jobs = [...groups.values()]
    .map((g) => {
      const schedule = `${renderField(g.minutes, 0, 59)} ${renderField(g.hours, 0, 23)} ${g.day}`;
      return {
        id: `${functionName}-tick-${jobSuffix(schedule)}`,
        schedule,
        timeZone: config.timezone,
        collectors: order.filter((n) => g.collectors.has(n)),
      };
    })
    .sort(
      (a, b) => order.indexOf(a.collectors[0]!) - order.indexOf(b.collectors[0]!) || a.id.localeCompare(b.id),
    );
  return { jobs, week: countTicks(config, jobs) };
}

/** A job id from its schedule: letters, digits, `-` and `_` only (Cloud Scheduler's rule). */
export function jobSuffix(schedule: string): string {
  return schedule
    .replace(/\*/g, 'x')
    .replace(/\//g, 'every')
    .replace(/-/g, 'to')
    .replace(/,/g, '-')
    .replace(/\s+/g, '_')
    .replace(/[^A-Za-z0-9_-]/g, '')
    .toLowerCase();
}

function countTicks(config: Config, jobs: JobSpec[]): { ticks: number; empty: number } {
  // Compiled once: a croner schedule in a time zone costs about a millisecond to build.
  const schedules = config.collectors
    .filter((c) => c.enabled && c.schedule !== null)
    .map((c) => compileSchedule(c.schedule!, config.timezone));
  let ticks = 0;
  let empty = 0;
  for (const job of jobs) {
    const runs = compileSchedule(job.schedule, job.timeZone).runsBetween(
      REFERENCE_WEEK_START,
      REFERENCE_WEEK_START + WEEK_MS,
    );
    for (const at of runs) {
      ticks++;
      if (!schedules.some((s) => s.isDueAt(at))) empty++;
    }
  }
  return { ticks, empty };
}
