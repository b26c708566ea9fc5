import { Cron } from 'croner';
import { parseConfig } from '../../src/config/load';
import { shiftCron } from '../../src/schedule/cron-fields';
import { compileSchedule } from '../../src/schedule/cron';
import { buildPlan, OVERLAP_LIMIT } from '../../src/schedule/plan';
import { ShiftableRuns } from '../../src/schedule/shift-runs';
import { suggestSchedules } from '../../src/schedule/stagger';
import { seededRandom } from '../support/seeded-random';

// The planner's work is bounded whatever the config: runs are enumerated at a fixed UTC offset where
// the zone allows it (the same runs as the zone's own evaluation), stagger candidates are screened by
// arithmetic and tried once per distinct expression, and a member that meets itself is given up at
// once. CPU time itself is measured by `npm run bench` (bench/plan.js); these tests bound the work.

const FROM = Date.parse('2026-11-22T00:00:00+01:00');

function configOf(collectors: string, timezone = 'Europe/Paris') {
  return parseConfig(`timezone: ${timezone}\ncollectors:\n${collectors}`, 'plan.yaml', {});
}

/** The runs as croner evaluates them in the zone, one nextRun at a time (the slow reference). */
function zoneRuns(expression: string, timezone: string, fromMs: number, toMs: number): number[] {
  const cron = new Cron(expression, { timezone, mode: '5-part', paused: true, domAndDow: false });
  const runs: number[] = [];
  for (let t = cron.nextRun(new Date(fromMs - 1)); t && t.getTime() < toMs; t = cron.nextRun(t))
    runs.push(t.getTime());
  return runs;
}

const EXPRESSIONS = [
  '30 2 * * *',
  '0 2,3 * * *',
  '15 1-3 * * 0',
  '*/20 * * * *',
  '45 23 * * 6',
  '*/7 2 * * *',
  '0 */3 * * 1-5',
  '30 2 25-31 3,10 0',
];
const ZONES = ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'UTC'];
/** Windows that hold the 2026 daylight-saving changes of those zones, and ordinary weeks. */
const STARTS = [
  '2026-03-27T00:00:00Z',
  '2026-10-24T00:00:00Z',
  '2026-11-01T00:00:00Z',
  '2026-04-04T00:00:00Z',
];

describe('cron runs over a window', () => {
  const random = seededRandom(20261122);
  const cases = ZONES.flatMap((zone) =>
    STARTS.map((start) => ({
      zone,
      expression: EXPRESSIONS[Math.floor(random() * EXPRESSIONS.length)]!,
      fromMs: Date.parse(start) + Math.floor(random() * 86_400_000),
    })),
  );

  it.each(cases)(
    '$expression in $zone from $fromMs: the same runs as the zone evaluation, across offset changes',
    ({ expression, zone, fromMs }) => {
      const toMs = fromMs + 3 * 86_400_000;
      expect(compileSchedule(expression, zone).runsBetween(fromMs, toMs)).toEqual(
        zoneRuns(expression, zone, fromMs, toMs),
      );
    },
  );

  it('shifted runs worked out by arithmetic match the compiled shifted expression away from offset changes', () => {
    const from = Date.parse('2026-11-10T00:00:00Z');
    const to = from + 2 * 86_400_000;
    for (const expression of ['*/20 * * * *', '5 1 * * *', '0,7,13 */2 * * 1-5', '59 23 * * *']) {
      const shiftable = new ShiftableRuns(expression, 'Europe/Paris', from, to);
      for (const [minutes, hours] of [
        [0, 0],
        [10, 0],
        [55, 0],
        [3, 1],
        [0, 23],
      ] as const) {
        const shifted = shiftCron(expression, minutes, hours)!;
        expect(shiftable.runs(minutes, hours)).toEqual(
          compileSchedule(shifted, 'Europe/Paris').runsBetween(from, to),
        );
      }
    }
  });
});

describe('the stagger search stays small', () => {
  // A budget of 150,000 estimated µs (about 0.15 s): the old search took a minute and more on these.
  const SMALL_BUDGET = 150_000;

  it('a member on */5 with a 600 s timeout meets itself: given up at once, the others still placed', () => {
    const config = configOf(`
  realtime: { schedule: "*/5 * * * *", group: g, timeout_seconds: 600 }
  daily: { schedule: "5 1 * * *", group: g, timeout_seconds: 300 }
  other: { schedule: "0 3 * * *", group: h, timeout_seconds: 300 }
  other-2: { schedule: "0 3 * * *", group: h, timeout_seconds: 300 }
`);
    const suggestion = suggestSchedules(config, FROM, new Map(), SMALL_BUDGET);
    // The realtime member's own runs overlap, and leave no room for the daily one.
    expect(suggestion.unresolved).toEqual(['realtime', 'daily']);
    expect(suggestion.notSearched).toBeUndefined();
    expect(suggestion.changes).toEqual([
      { collector: 'other-2', group: 'h', from: '0 3 * * *', to: '5 3 * * *' },
    ]);
  });

  it('*/15 with a long member finds its staggered schedule within the small budget', () => {
    const config = configOf(`
  frequent: { schedule: "*/15 * * * *", group: g, timeout_seconds: 300 }
  six-hourly: { schedule: "0 */6 * * *", group: g, timeout_seconds: 240 }
  daily: { schedule: "0 2 * * *", group: g, timeout_seconds: 240 }
`);
    const suggestion = suggestSchedules(config, FROM, new Map(), SMALL_BUDGET);
    expect(suggestion).toEqual({
      changes: [
        { collector: 'six-hourly', group: 'g', from: '0 */6 * * *', to: '5 0,6,12,18 * * *' },
        { collector: 'daily', group: 'g', from: '0 2 * * *', to: '5 2 * * *' },
      ],
      unresolved: [],
    });
  });

  it('past its budget the search stops and says which members it did not reach', () => {
    const config = configOf(`
  a: { schedule: "* * * * *", group: g, timeout_seconds: 30 }
  b: { schedule: "0-29 */2 * * *", group: g, timeout_seconds: 60 }
`);
    const suggestion = suggestSchedules(config, FROM, new Map(), 1_000);
    expect(suggestion.notSearched).toEqual(['a', 'b']);
    expect(suggestion.unresolved).toEqual(['a', 'b']);
  });
});

describe('the plan stays small', () => {
  it('stops at the end of a day past its run limit, every collector planned over the same window', () => {
    const config = configOf(`
  every-minute: { schedule: "* * * * *", group: g, timeout_seconds: 30 }
  hourly: { schedule: "0 * * * *", group: g, timeout_seconds: 30 }
`);
    const plan = buildPlan(config, FROM, 24 * 31, new Map(), 3_000);
    expect(plan.cutShort).toBe(true);
    // 1,464 runs a day (1,440 + 24): three days pass 3,000.
    expect(plan.toMs).toBe(FROM + 3 * 86_400_000);
    expect(plan.collectors.map((c) => c.runs.at(-1)!.startMs < plan.toMs)).toEqual([true, true]);
    expect(plan.collectors[1]!.runs).toHaveLength(72);
  });

  it('lists at most OVERLAP_LIMIT overlaps and says there were more', () => {
    const config = configOf(`
  busy: { schedule: "* * * * *", group: g, timeout_seconds: 3600 }
`);
    const plan = buildPlan(config, FROM, 24, new Map());
    expect(plan.overlaps).toHaveLength(OVERLAP_LIMIT);
    expect(plan.moreOverlaps).toBe(true);
  });
});
