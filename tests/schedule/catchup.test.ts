import { missedTimes, MAX_CATCHUP_RUNS } from '../../src/schedule/catchup';
import { compileSchedule } from '../../src/schedule/cron';
import { claimKey, readWatermark, type RunClaim } from '../../src/schedule/run-claims';
import { putJson, readJson } from '../../src/store/types';
import { xmp } from '../../collectors/xmp';
import { CollectorRegistry } from '../../src/runtime/registry';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { startXmpUpstream, type XmpUpstream } from '../support/upstreams/xmp';
import { FakeClock } from '../support/fake-clock';
import { instance, recordingRegistry, runAt, storageYaml, tick, type SeenRun } from './support';

const ms = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();

describe('missedTimes: which scheduled times a tick catches up', () => {
  const daily = compileSchedule('5 1 * * *', 'Europe/Paris'); // 00:05Z in winter
  const often = compileSchedule('*/30 * * * *', 'Europe/Paris');
  const weekly = compileSchedule('0 6 * * 1', 'Europe/Paris');
  const cases: {
    name: string;
    schedule: typeof daily;
    tick: string;
    watermark: string | null;
    window: number | null;
    expected: string[];
  }[] = [
    {
      name: 'default window: the daily run missed the day before',
      schedule: daily,
      tick: '2026-11-22T00:05:00Z',
      watermark: '2026-11-20T00:05:00Z',
      window: null,
      expected: ['2026-11-21T00:05:00.000Z'],
    },
    {
      name: "default window, from another job's tick later that day",
      schedule: daily,
      tick: '2026-11-21T00:30:00Z',
      watermark: '2026-11-20T00:05:00Z',
      window: null,
      expected: ['2026-11-21T00:05:00.000Z'],
    },
    {
      name: 'nothing missed: the watermark is the run before the tick',
      schedule: daily,
      tick: '2026-11-22T00:05:00Z',
      watermark: '2026-11-21T00:05:00Z',
      window: null,
      expected: [],
    },
    {
      name: 'no watermark (a new collector): nothing to catch up',
      schedule: daily,
      tick: '2026-11-22T00:05:00Z',
      watermark: null,
      window: null,
      expected: [],
    },
    {
      name: 'catchup_window 0 turns it off',
      schedule: daily,
      tick: '2026-11-22T00:05:00Z',
      watermark: '2026-11-19T00:05:00Z',
      window: 0,
      expected: [],
    },
    {
      name: 'default window is one period: two missed half-hours, only the last',
      schedule: often,
      tick: '2026-11-22T15:00:00Z',
      watermark: '2026-11-22T13:30:00Z',
      window: null,
      expected: ['2026-11-22T14:30:00.000Z'],
    },
    {
      name: 'default window is at most a day: a weekly run missed 6 days ago is not caught up',
      schedule: weekly,
      tick: '2026-11-22T14:00:00Z',
      watermark: '2026-11-09T05:00:00Z',
      window: null,
      expected: [],
    },
    {
      name: 'a window of 3 days: every day missed since the watermark, oldest first',
      schedule: daily,
      tick: '2026-11-22T00:05:00Z',
      watermark: '2026-11-18T00:05:00Z',
      window: 3 * 86_400,
      expected: ['2026-11-19T00:05:00.000Z', '2026-11-20T00:05:00.000Z', '2026-11-21T00:05:00.000Z'],
    },
  ];
  it.each(cases)('$name', (c) => {
    const times = missedTimes(
      c.schedule,
      ms(c.tick),
      c.watermark === null ? null : ms(c.watermark),
      c.window,
    );
    expect(times.map(iso)).toEqual(c.expected);
  });

  it(`keeps the newest ${MAX_CATCHUP_RUNS} of a long window on a frequent cron`, () => {
    const times = missedTimes(often, ms('2026-11-22T14:00:00Z'), ms('2026-11-21T14:00:00Z'), 86_400);
    expect(times).toHaveLength(MAX_CATCHUP_RUNS);
    expect(iso(times[times.length - 1]!)).toBe('2026-11-22T13:30:00.000Z');
  });
});

describe.each(STORE_KINDS)('catch-up on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;

  const config = (prefix: string) => `${storageYaml(storage, prefix)}timezone: Europe/Paris
collectors:
  daily: { schedule: "5 1 * * *" }
  often: { schedule: "*/30 * * * *" }
`;

  it('a missed daily tick is caught up once, at the next tick, and never twice across two instances', async () => {
    const yaml = config(`catchup-${++n}`);
    const seen: SeenRun[] = [];
    const a = await instance(yaml, {
      registry: recordingRegistry(seen, ['daily', 'often']),
      at: '2026-11-20T00:05:00Z',
    });
    const b = await instance(yaml, {
      registry: recordingRegistry(seen, ['daily', 'often']),
      at: '2026-11-20T00:05:00Z',
    });
    try {
      // Day 1: the daily tick runs; its watermark starts here.
      const first = await runAt(a, '2026-11-20T00:05:00Z', tick('2026-11-20T00:05:00Z'));
      expect(first.collectors['daily']).toMatchObject({ status: 'success' });
      expect(first.collectors['daily']!['trigger']).toBeUndefined();
      // Day 2, 01:05 Paris (00:05Z): the tick is lost (the function was down).
      // 01:30 Paris: two Cloud Scheduler jobs tick both instances at once. The missed run is made up
      // by exactly one of them, with its own scheduled time in the payload.
      const [ra, rb] = await Promise.all([
        runAt(a, '2026-11-21T00:30:00Z', tick('2026-11-21T00:30:00Z', 'master-a')),
        runAt(b, '2026-11-21T00:30:00Z', tick('2026-11-21T00:30:00Z', 'master-b')),
      ]);
      const catchups = [ra, rb].filter((r) => r.collectors['daily'] !== undefined);
      expect(catchups).toHaveLength(1);
      const entry = catchups[0]!.collectors['daily']!;
      expect(entry).toMatchObject({
        status: 'success',
        trigger: { kind: 'catchup', scheduled_time: '2026-11-21T00:05:00.000Z' },
        run_id: `${catchups[0]!.execution_id}.20261121T000500Z`,
      });
      expect(catchups[0]!.trigger).toMatchObject({
        kind: 'tick',
        scheduled_time: '2026-11-21T00:30:00.000Z',
      });
      // The tick's own run of `often` also ran once: the other instance found it claimed.
      const oftenEntries = [ra, rb].map((r) => r.collectors['often']!);
      expect(oftenEntries.map((e) => e.status).sort()).toEqual(['skipped', 'success']);
      expect(oftenEntries.find((e) => e.status === 'skipped')).toMatchObject({ reason: 'already_claimed' });

      // Later ticks, on either instance: the day is not made up again.
      const later = await runAt(b, '2026-11-21T01:00:00Z', tick('2026-11-21T01:00:00Z'));
      expect(Object.keys(later.collectors)).toEqual(['often']);
      const again = await runAt(a, '2026-11-21T01:00:00Z', tick('2026-11-21T01:00:00Z', 'master-b'));
      expect(again.collectors['daily']).toBeUndefined();
      // Day 3: the daily tick runs as a tick, with nothing left to catch up.
      const day3 = await runAt(a, '2026-11-22T00:05:00Z', tick('2026-11-22T00:05:00Z'));
      expect(day3.collectors['daily']).toMatchObject({ status: 'success' });
      expect(day3.collectors['daily']!['trigger']).toBeUndefined();

      const daily = seen.filter((s) => s.collector === 'daily');
      expect(daily.map((s) => s.scheduledTime)).toEqual([
        '2026-11-20T00:05:00.000Z',
        '2026-11-21T00:05:00.000Z',
        '2026-11-22T00:05:00.000Z',
      ]);
      // The catch-up ran at 01:30 Paris, for 01:05.
      expect(daily[1]!.at).toBe('2026-11-21T00:30:00.000Z');
      expect(await readWatermark(a.stores.state, 'daily')).toBe(ms('2026-11-22T00:05:00Z'));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a missed time whose run never reached its collector is caught up at the next tick', async () => {
    const yaml = config(`giveback-${++n}`);
    const seen: SeenRun[] = [];
    const a = await instance(yaml, {
      registry: recordingRegistry(seen, ['daily', 'often']),
      at: '2026-11-20T00:05:00Z',
    });
    try {
      await runAt(a, '2026-11-20T00:05:00Z', tick('2026-11-20T00:05:00Z'));
      // The 2026-11-21 tick arrives in tasks mode without tasks settings: nothing is dispatched.
      const failed = await runAt(a, '2026-11-21T00:05:00Z', {
        ...tick('2026-11-21T00:05:00Z'),
        mode: 'tasks',
      });
      expect(failed.collectors['daily']).toMatchObject({ status: 'failed', attempts: 0 });
      // Its claim was given back and its watermark not moved: the next tick makes it up.
      const next = await runAt(a, '2026-11-21T00:30:00Z', tick('2026-11-21T00:30:00Z'));
      expect(next.collectors['daily']).toMatchObject({
        status: 'success',
        trigger: { kind: 'catchup', scheduled_time: '2026-11-21T00:05:00.000Z' },
      });
      expect(seen.filter((s) => s.collector === 'daily').map((s) => s.scheduledTime)).toEqual([
        '2026-11-20T00:05:00.000Z',
        '2026-11-21T00:05:00.000Z',
      ]);
    } finally {
      await a.close();
    }
  });

  it('a missed time claimed by an instance killed before it settled is made up once the claim is dead', async () => {
    const yaml = config(`killed-${++n}`);
    const seen: SeenRun[] = [];
    const a = await instance(yaml, {
      registry: recordingRegistry(seen, ['daily', 'often']),
      at: '2026-11-20T00:05:00Z',
    });
    try {
      await runAt(a, '2026-11-20T00:05:00Z', tick('2026-11-20T00:05:00Z'));
      // An instance claimed the 2026-11-21 run at 00:05 and was killed: no report, no watermark.
      const killed = '20261121T000500Z-deadbeef';
      const claim = (deadAfter: string) => ({
        collector: 'daily',
        scheduledTime: '2026-11-21T00:05:00.000Z',
        executionId: killed,
        kind: 'tick',
        claimedAt: '2026-11-21T00:05:00.000Z',
        deadAfter,
      });
      await putJson(
        a.stores.state,
        claimKey('daily', ms('2026-11-21T00:05:00Z')),
        claim('2026-11-21T00:20:00.000Z'),
      );
      // At 00:10 its claim may still be alive: nothing is made up.
      const early = await runAt(a, '2026-11-21T00:10:00Z', tick('2026-11-21T00:10:00Z', 'other'));
      expect(early.collectors['daily']).toBeUndefined();
      // At 00:30 it is dead (past its time, no report): taken over, and the day made up once.
      const later = await runAt(a, '2026-11-21T00:30:00Z', tick('2026-11-21T00:30:00Z'));
      expect(later.collectors['daily']).toMatchObject({
        status: 'success',
        trigger: { kind: 'catchup', scheduled_time: '2026-11-21T00:05:00.000Z' },
      });
      const taken = await readJson<RunClaim>(a.stores.state, claimKey('daily', ms('2026-11-21T00:05:00Z')));
      expect(taken!.value).toMatchObject({ executionId: later.execution_id, takenOverFrom: killed });
      const again = await runAt(a, '2026-11-21T01:00:00Z', tick('2026-11-21T01:00:00Z'));
      expect(again.collectors['daily']).toBeUndefined();
      expect(seen.filter((r) => r.collector === 'daily')).toHaveLength(2);
    } finally {
      await a.close();
    }
  });

  it('XMP daily (T-1) under catch-up fetches the day before the missed run, not the day before now', async () => {
    const clock = new FakeClock('2026-11-20T00:05:00Z');
    const up: XmpUpstream = await startXmpUpstream({
      clientId: 'catchup-client',
      clientSecret: 'catchup-secret-5d1e',
      clock,
      requestsPerMinute: null,
    });
    const yaml = `${storageYaml(storage, `xmp-catchup-${++n}`)}timezone: Europe/Paris
collectors:
  xmp-daily:
    collector: xmp
    schedule: "5 1 * * *"
    options: { base_url: "${up.baseUrl}", mode: daily, timezone: Europe/Paris, account: catchup-${kind}, requests_per_minute: 600, reports: [ad_report] }
`;
    const services = await instance(yaml, {
      registry: new CollectorRegistry([xmp]),
      at: '2026-11-20T00:05:00Z',
      clock,
      env: { XMP_CLIENT_ID: 'catchup-client', XMP_CLIENT_SECRET: 'catchup-secret-5d1e' },
    });
    try {
      const day1 = await runAt(services, '2026-11-20T00:05:00Z', tick('2026-11-20T00:05:00Z'));
      expect(day1.collectors['xmp-daily']).toMatchObject({ status: 'success' });
      // The 2026-11-21 01:05 tick is lost; a tick at 09:00 that day (nothing due) makes it up.
      const later = await runAt(services, '2026-11-21T08:00:00Z', tick('2026-11-21T08:00:00Z'));
      expect(later.collectors['xmp-daily']).toMatchObject({
        status: 'success',
        trigger: { kind: 'catchup', scheduled_time: '2026-11-21T00:05:00.000Z' },
        result: { summary: { days: ['2026-11-20'] } },
      });
      // The report calls (the metric-fields check carries no dates).
      const asked = up.calls
        .filter((c) => c.outcome === 'ok' && 'start_date' in c.body)
        .map((c) => [c.body['start_date'], c.body['end_date']]);
      expect(asked).toEqual([
        ['2026-11-19', '2026-11-19'],
        ['2026-11-20', '2026-11-20'],
      ]);
    } finally {
      await services.close();
      await up.close();
    }
  });
});
