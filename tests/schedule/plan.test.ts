import { parseConfig } from '../../src/config/load';
import { compileSchedule } from '../../src/schedule/cron';
import { buildPlan, findOverlaps, planCollector } from '../../src/schedule/plan';
import { suggestSchedules } from '../../src/schedule/stagger';
import { renderTimeline } from '../../src/schedule/timeline';

const FROM = Date.parse('2026-11-22T00:00:00+01:00'); // midnight in Paris

function configOf(collectors: string): ReturnType<typeof parseConfig> {
  return parseConfig(`timezone: Europe/Paris\ncollectors:\n${collectors}`, 'plan.yaml', {});
}

/**
 * The users' outage: three jobs on one XMP account. Every 30 min (realtime, ~10 min), every 6 h from
 * 02:00 (~15 min) and daily at 02:00 (~20 min) met at 02:00, 08:00, 14:00 and 20:00.
 */
const OUTAGE = `
  xmp-realtime: { schedule: "*/30 * * * *", group: xmp-account, timeout_seconds: 600 }
  xmp-6h: { schedule: "0 2-23/6 * * *", group: xmp-account, timeout_seconds: 900 }
  xmp-daily: { schedule: "0 2 * * *", group: xmp-account, timeout_seconds: 1200 }
  dvf: { schedule: "0 2 * * *", timeout_seconds: 3000 }
`;

describe('the schedule planner', () => {
  const scenarios = [
    {
      name: 'the 14:00 outage: every 30 min + every 6 h + daily 02:00 on one account',
      collectors: OUTAGE,
      // 02:00 three-way (3 pairs), 08:00, 14:00 and 20:00 (one pair each).
      overlapsAt: ['02:00', '02:00', '02:00', '08:00', '14:00', '20:00'],
      changes: { 'xmp-6h': '10 2,8,14,20 * * *', 'xmp-daily': '40 2 * * *' },
      unresolved: [] as string[],
    },
    {
      name: 'the same jobs, already staggered',
      collectors: `
  xmp-realtime: { schedule: "*/30 * * * *", group: xmp-account, timeout_seconds: 600 }
  xmp-6h: { schedule: "10 2-23/6 * * *", group: xmp-account, timeout_seconds: 900 }
  xmp-daily: { schedule: "40 2 * * *", group: xmp-account, timeout_seconds: 1200 }
`,
      overlapsAt: [],
      changes: {},
      unresolved: [],
    },
    {
      name: 'no room: a 25-minute job every 30 minutes leaves no 10-minute gap',
      collectors: `
  busy: { schedule: "*/30 * * * *", group: g, timeout_seconds: 1500 }
  other: { schedule: "0 3 * * *", group: g, timeout_seconds: 600 }
`,
      overlapsAt: ['03:00'],
      changes: {},
      unresolved: ['other'],
    },
    {
      name: 'members of different groups may run together',
      collectors: `
  a: { schedule: "0 2 * * *", group: one, timeout_seconds: 600 }
  b: { schedule: "0 2 * * *", group: two, timeout_seconds: 600 }
`,
      overlapsAt: [],
      changes: {},
      unresolved: [],
    },
  ];

  it.each(scenarios)('$name', ({ collectors, overlapsAt, changes, unresolved }) => {
    const config = configOf(collectors);
    const plan = buildPlan(config, FROM, 24, new Map());
    const at = (ms: number) =>
      new Date(ms).toLocaleTimeString('en-GB', {
        timeZone: 'Europe/Paris',
        hour: '2-digit',
        minute: '2-digit',
      });
    expect(plan.overlaps.map((o) => at(o.second.startMs)).sort()).toEqual(overlapsAt);

    const suggestion = suggestSchedules(config, FROM, new Map());
    expect(Object.fromEntries(suggestion.changes.map((c) => [c.collector, c.to]))).toEqual(changes);
    expect(suggestion.unresolved).toEqual(unresolved);

    // Applying the suggestion removes every overlap, over a whole week, and keeps each frequency.
    if (unresolved.length === 0) {
      const weekMs = 7 * 86_400_000;
      const planned = config.collectors
        .filter((c) => c.group)
        .map((c) =>
          planCollector(
            c,
            (changes as Record<string, string>)[c.name] ?? c.schedule!,
            config.timezone,
            FROM,
            FROM + weekMs,
            new Map(),
          ),
        );
      expect(findOverlaps(planned)).toEqual([]);
      for (const c of config.collectors.filter((c) => c.group)) {
        const before = compileSchedule(c.schedule!, config.timezone).runsBetween(FROM, FROM + weekMs).length;
        const after = planned.find((p) => p.name === c.name)!.runs.filter((r) => r.startMs >= FROM).length;
        expect(after).toBe(before);
      }
    }
  });

  it('uses the median of recent durations where there is history, the timeout otherwise', () => {
    const config = configOf(OUTAGE);
    const plan = buildPlan(config, FROM, 24, new Map([['xmp-daily', 120]]));
    const daily = plan.collectors.find((c) => c.name === 'xmp-daily')!;
    expect(daily).toMatchObject({ expectedSeconds: 120, durationSource: 'history' });
    expect(plan.collectors.find((c) => c.name === 'xmp-6h')).toMatchObject({
      expectedSeconds: 900,
      durationSource: 'timeout',
    });
    // With a 2-minute daily run, only the 6 h job still meets the realtime one... and the daily at 02:00.
    expect(plan.overlaps.length).toBe(6);
  });

  it('draws a timeline that fits 120 columns, with overlaps marked', () => {
    const plan = buildPlan(configOf(OUTAGE), FROM, 24, new Map());
    const text = renderTimeline(plan, 120);
    const lines = text.split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(120);
    // 15-minute columns: 96 per day, after the name column. The 02:00 slot is column 8.
    const cells = (name: string) => lines.find((l) => l.startsWith(name))!.slice(-96);
    expect(cells('xmp-daily [xmp-account')).toMatch(/^[.|=X]{96}$/);
    expect(cells('xmp-daily [xmp-account')[8]).toBe('X');
    expect(cells('xmp-realtime [xmp-acc').slice(0, 4)).toBe('|.|.');
    expect(cells('dvf').slice(8, 12)).toBe('|===');
    expect(lines[0]).toMatch(/^\s+00 {2}01 {2}02 {2}03 .* 22 {2}23$/);
    expect(text).toMatch(/15-minute columns, Europe\/Paris/);
  });
});
