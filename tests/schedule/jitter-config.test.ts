import { ConfigError } from '../../src/config/errors';
import { parseConfig } from '../../src/config/load';
import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import { closeTasksClients } from '../../src/tasks/client';
import { FakeClock } from '../support/fake-clock';
import { seededRandom } from '../support/seeded-random';
import { until } from '../support/wait';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { START, startRig } from '../modes/rig';
import { instance, recordingRegistry, storageYaml, type SeenRun } from './support';

const dirs = tempDirs();
afterAll(async () => {
  await closeTasksClients();
  dirs.cleanup();
});

describe.each(STORE_KINDS)('jitter on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());

  it('HTTP mode: a seeded random delay before each run (a group drawn once), reported, within the deadline', async () => {
    const yaml = `${storageYaml(storage, 'jitter-http')}scheduler:
  groups: { acct: { jitter_seconds: 30 } }
collectors:
  a: { jitter_seconds: 60 }
  m1: { group: acct }
  m2: { group: acct, jitter_seconds: 10 }
  late: { jitter_seconds: 450, timeout_seconds: 300 }
`;
    const seen: SeenRun[] = [];
    // Time moves only when the test says, so each run's start is exactly its delay.
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const s = await instance(yaml, {
      registry: recordingRegistry(seen, ['a', 'm1', 'm2', 'late']),
      at: '2026-11-22T14:00:00Z',
      clock,
      random: seededRandom(42),
    });
    try {
      // The same draws, in config order: a's own, the group's (once), m2's own, late's own.
      const draws = seededRandom(42);
      const a = Math.floor(draws() * 60_000);
      const group = Math.floor(draws() * 30_000);
      const m2 = Math.floor(draws() * 10_000);
      const lateDraw = Math.floor(draws() * 450_000);
      // This seed draws 301 s for `late`: over the 200 s its 300 s timeout leaves of the 500 s deadline.
      expect(lateDraw).toBeGreaterThan(200_000);
      const late = 200_000;
      const finished = new Set<string>();
      const execution = execute(s, makeTrigger('cli'), (event) => {
        if (event.type === 'finish') finished.add(event.outcome.name);
      });
      const starts = [
        { name: 'a', at: a },
        { name: 'm1', at: group },
        { name: 'm2', at: group + m2 },
        { name: 'late', at: late },
      ].sort((x, y) => x.at - y.at);
      const t0 = clock.now();
      for (const { name, at } of starts) {
        clock.advance(t0 + at - clock.now());
        await until(() => seen.some((r) => r.collector === name), `${name} started`);
        // Nothing starts before its time.
        expect(seen.find((r) => r.collector === name)!.at).toBe(new Date(t0 + at).toISOString());
        // Time moves on only once it ended (a group member holds its group's lease until then).
        await until(() => finished.has(name), `${name} finished`);
      }
      const { report } = await execution;
      expect(report.collectors['a']).toMatchObject({ status: 'success', jitter_seconds: a / 1000 });
      expect(report.collectors['m1']).toMatchObject({ status: 'success', jitter_seconds: group / 1000 });
      expect(report.collectors['m2']).toMatchObject({
        status: 'success',
        jitter_seconds: (group + m2) / 1000,
      });
      // Capped so that its timeout still fits before scheduler.deadline_seconds (500 s).
      expect(report.collectors['late']).toMatchObject({ status: 'success', jitter_seconds: late / 1000 });
      expect(seen.map((r) => r.collector)).toEqual(starts.map((x) => x.name));
    } finally {
      await s.close();
    }
  });

  it("tasks mode: the delay is the task's schedule time", async () => {
    const r = await startRig({
      mode: 'tasks',
      storage,
      dir: dirs.make(`jitter-tasks-${kind}`),
      registry: recordingRegistry([], ['j']),
      collectors: { j: '{ jitter_seconds: 90 }' },
      random: seededRandom(7),
    });
    try {
      const delay = Math.floor(seededRandom(7)() * 90_000);
      const { body } = await r.trigger();
      const at = new Date(Date.parse(START) + delay).toISOString();
      expect(body.collectors['j']).toMatchObject({
        status: 'scheduled',
        jitter_seconds: delay / 1000,
        schedule_time: at,
      });
      const created = r.tasks!.requests.find((c) => c.method === 'CreateTask')!;
      const scheduleTime = (
        created.request as { task: { scheduleTime: { seconds: string; nanos?: number } } }
      ).task.scheduleTime;
      expect(Number(scheduleTime.seconds) * 1000 + Math.round((scheduleTime.nanos ?? 0) / 1e6)).toBe(
        Date.parse(at),
      );
      await r.settled();
    } finally {
      await r.close();
    }
  });
});

describe('scheduling keys in the config', () => {
  const problems = (yaml: string): string => {
    try {
      parseConfig(yaml, 'config.yaml', {});
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).message;
    }
    throw new Error('expected a ConfigError');
  };
  const cases: { name: string; yaml: string; expected: RegExp }[] = [
    {
      name: 'a catch-up window that is not a duration',
      yaml: 'collectors:\n  d:\n    schedule: "5 1 * * *"\n    catchup_window: 2w\n',
      expected:
        /config\.yaml:4 collectors\.d\.catchup_window: must be seconds or a duration like 30m, 6h, 1d/,
    },
    {
      name: 'a catch-up window over 7 days',
      yaml: 'collectors:\n  d:\n    catchup_window: 30d\n',
      expected: /config\.yaml:3 collectors\.d\.catchup_window: must be at most 7 days/,
    },
    {
      name: 'an unknown overlap policy',
      yaml: 'collectors:\n  d:\n    overlap: sometimes\n',
      expected: /config\.yaml:3 collectors\.d\.overlap: must be one of skip, buffer_one, allow/,
    },
    {
      name: "a backfill's policy as a collector's",
      yaml: 'scheduler:\n  overlap: buffer_all\ncollectors:\n  d: {}\n',
      expected: /config\.yaml:2 scheduler\.overlap: must be one of skip, buffer_one, allow/,
    },
    {
      name: 'jitter that leaves no time before the deadline',
      yaml: 'scheduler:\n  deadline_seconds: 300\ncollectors:\n  d:\n    jitter_seconds: 300\n',
      expected:
        /config\.yaml:5 collectors\.d\.jitter_seconds: 300 s of jitter \(with the group's\) leaves no time within scheduler\.deadline_seconds \(300 s\)/,
    },
    {
      name: 'pause_after_failures of 0',
      yaml: 'collectors:\n  d:\n    pause_after_failures: 0\n',
      expected: /config\.yaml:3 collectors\.d\.pause_after_failures: must be at least 1/,
    },
    {
      name: 'a group jitter for a group nobody belongs to',
      yaml: 'scheduler:\n  groups:\n    xmp-acount: { jitter_seconds: 5 }\ncollectors:\n  d: { group: xmp-account }\n',
      expected:
        /config\.yaml:3 scheduler\.groups\.xmp-acount: names no group a collector belongs to \(groups: xmp-account\)/,
    },
    {
      name: 'a misspelt key',
      yaml: 'collectors:\n  d:\n    catchup_windw: 1h\n',
      expected: /config\.yaml:3 collectors\.d\.catchup_windw: unknown key; did you mean "catchup_window"\?/,
    },
  ];
  it.each(cases)('$name', (c) => expect(problems(c.yaml)).toMatch(c.expected));

  it('normalises durations and takes the scheduler-level defaults', () => {
    const config = parseConfig(
      `scheduler:
  overlap: buffer_one
  catchup_window: 6h
  pause_after_failures: 3
  groups: { acct: { jitter_seconds: 20 } }
  backfill: { max_range_days: 7, max_runs: 50, spacing_seconds: 5 }
collectors:
  a: { catchup_window: 90m, overlap: allow, jitter_seconds: 15, group: acct }
  b: { catchup_window: 0 }
`,
      'config.yaml',
      {},
    );
    const [a, b] = config.collectors;
    expect(a!.scheduling).toEqual({
      catchupWindowSeconds: 5400,
      overlap: 'allow',
      jitterSeconds: 15,
      groupJitterSeconds: 20,
      pauseAfterFailures: 3,
    });
    expect(b!.scheduling).toEqual({
      catchupWindowSeconds: 0,
      overlap: 'buffer_one',
      jitterSeconds: 0,
      groupJitterSeconds: 0,
      pauseAfterFailures: 3,
    });
    expect(config.scheduler.backfill).toEqual({ maxRangeDays: 7, maxRuns: 50, spacingSeconds: 5 });
    const plain = parseConfig('collectors:\n  c: {}\n', 'config.yaml', {});
    expect(plain.collectors[0]!.scheduling).toEqual({
      catchupWindowSeconds: null,
      overlap: 'skip',
      jitterSeconds: 0,
      groupJitterSeconds: 0,
      pauseAfterFailures: null,
    });
  });
});
