import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { jobSuffix, planJobs } from '../../src/deploy/scheduler-jobs';
import { compileSchedule } from '../../src/schedule/cron';

const ROOT = path.resolve(__dirname, '../..');
const config = (yaml: string) => parseConfig(yaml, 'c.yaml', {});

/** Over `days`: every collector firing is carried by exactly one job tick. */
function coverage(c: Config, days = 3) {
  const { jobs } = planJobs(c, 'scheduler');
  const jobSchedules = jobs.map((j) => compileSchedule(j.schedule, j.timeZone));
  const from = Date.UTC(2026, 2, 27); // three days around the spring DST change in Europe/Paris (29 March)
  const to = from + days * 86_400_000;
  const carriers: number[] = [];
  for (const col of c.collectors.filter((x) => x.enabled && x.schedule)) {
    for (const at of compileSchedule(col.schedule!, c.timezone).runsBetween(from, to))
      carriers.push(jobSchedules.filter((s) => s.isDueAt(at)).length);
  }
  return { jobs, carriers };
}

describe('the Cloud Scheduler jobs deploy creates', () => {
  it('for the default config: two jobs, no minute twice, no empty tick', () => {
    const c = parseConfig(readFileSync(path.join(ROOT, 'config/config.yaml'), 'utf8'), 'config.yaml', {});
    const plan = planJobs(c, 'scheduler');
    expect(plan.jobs.map((j) => [j.id, j.schedule, j.collectors])).toEqual([
      ['scheduler-tick-0-30_x_x_x_x', '0,30 * * * *', ['dvf', 'sirene', 'insee-contours', 'plu', 'xmp']],
      ['scheduler-tick-5_1_x_x_x', '5 1 * * *', ['xmp-daily']],
    ]);
    expect(plan.week).toEqual({ ticks: 343, empty: 0 });
    const { carriers } = coverage(c);
    expect(carriers.length).toBeGreaterThan(0);
    expect(new Set(carriers)).toEqual(new Set([1]));
  });

  it.each([
    [
      'weekly and monthly crons on shared minutes',
      'timezone: Europe/Paris\ncollectors:\n  a: { schedule: "0 3 * * 1" }\n  b: { schedule: "0 3 1 * *" }\n  c: { schedule: "0 6 * * 1" }\n  d: { schedule: "30 5 * * *" }\n',
      3,
    ],
    [
      'steps, ranges and lists',
      'timezone: Europe/Paris\ncollectors:\n  a: { schedule: "*/15 * * * *" }\n  b: { schedule: "7 9-17 * * 1-5" }\n  c: { schedule: "0,30 8 * * *" }\n  d: { schedule: "@daily" }\n',
      2,
    ],
    ['one collector', 'collectors:\n  a: { schedule: "45 23 * * 0" }\n', 1],
  ])('%s: every firing is carried by exactly one job', (_what, yaml, count) => {
    const { jobs, carriers } = coverage(config(yaml));
    expect(jobs).toHaveLength(count);
    expect(new Set(carriers)).toEqual(new Set([1]));
  });

  it('keeps a shared day-of-week, and falls back to daily where collectors of one minute differ', () => {
    const plan = planJobs(
      config(
        'collectors:\n  a: { schedule: "0 3 * * 1" }\n  b: { schedule: "0 3 1 * *" }\n  c: { schedule: "0 6 * * 1" }\n',
      ),
      'scheduler',
    );
    expect(plan.jobs.map((j) => j.schedule).sort()).toEqual(['0 3 * * *', '0 6 * * 1']);
    // Over the reference week (5-11 January 2026): 7 ticks at 03:00, only Monday's runs something (the 1st
    // is not in it), and Monday's at 06:00.
    expect(plan.week).toEqual({ ticks: 8, empty: 6 });
  });

  it('ignores disabled and unscheduled collectors', () => {
    const plan = planJobs(
      config('collectors:\n  a: { schedule: "0 3 * * *", enabled: false }\n  b: {}\n'),
      'scheduler',
    );
    expect(plan.jobs).toEqual([]);
  });

  it('names jobs from their schedules with the characters Cloud Scheduler allows', () => {
    expect(jobSuffix('*/15 9-17 * * MON-FRI')).toBe('xevery15_9to17_x_x_montofri');
    expect(jobSuffix('0,30 * * * *')).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
