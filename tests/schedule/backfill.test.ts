import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { xmp } from '../../collectors/xmp';
import { main, type CliIO } from '../../src/cli/main';
import type { ExecutionReport } from '../../src/report/report';
import { CollectorRegistry } from '../../src/runtime/registry';
import { closeTasksClients } from '../../src/tasks/client';
import { taskIdFor } from '../../src/tasks/naming';
import { FakeClock } from '../support/fake-clock';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { testCollector } from '../support/test-collectors';
import { startXmpUpstream } from '../support/upstreams/xmp';
import { START, startRig, type Rig } from '../modes/rig';
import { until } from '../support/wait';
import { recordingRegistry, storageYaml, type SeenRun } from './support';

const dirs = tempDirs();
afterAll(async () => {
  await closeTasksClients();
  dirs.cleanup();
});

/** 01:05 Paris (00:05Z in November) on 2026-11-15 … 2026-11-21. */
const WEEK = Array.from({ length: 7 }, (_, i) => `2026-11-${15 + i}T00:05:00.000Z`);
const FROM = '2026-11-15T00:00:00Z';
const TO = '2026-11-21T23:59:59Z';

describe.each(STORE_KINDS)('backfill on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;

  function configFile(collectors: string, scheduler = ''): string {
    const file = path.join(dirs.make('backfill'), 'config.yaml');
    writeFileSync(
      file,
      `${storageYaml(storage, `case-${++n}`)}timezone: Europe/Paris
scheduler:
  auth: { type: none }
${scheduler}collectors:
${collectors}`,
    );
    return file;
  }

  async function cli(args: string[], registry: CollectorRegistry, clock = new FakeClock()) {
    let stdout = '';
    let stderr = '';
    const io: CliIO = {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      env: {},
      cwd: process.cwd(),
    };
    const code = await main(args, io, { clock, registry, random: () => 0.5 });
    return { code, stdout, stderr };
  }
  const json = (stdout: string) => JSON.parse(stdout) as ExecutionReport;

  it('HTTP mode: a 7-day backfill runs 7 times with 7 scheduled times; repeated, it adds nothing', async () => {
    const seen: SeenRun[] = [];
    const registry = recordingRegistry(seen, ['daily']);
    const config = configFile('  daily: { schedule: "5 1 * * *" }\n');
    const args = ['backfill', 'daily', '--from', FROM, '--to', TO, '--config', config, '--json'];
    const first = await cli(args, registry);
    expect(first.code).toBe(0);
    const report = json(first.stdout);
    expect(report.trigger).toMatchObject({
      kind: 'backfill',
      backfill: { collector: 'daily', overlap: 'buffer_all', times: 7, done_before: 0, remaining: 0 },
    });
    expect(Object.keys(report.collectors)).toEqual(WEEK.map((t) => `daily@${t}`));
    WEEK.forEach((t) => {
      expect(report.collectors[`daily@${t}`]).toMatchObject({
        status: 'success',
        collector: 'daily',
        scheduled_time: t,
        trigger: { kind: 'backfill', scheduled_time: t },
        run_id: `${report.execution_id}.${t.replace(/[-:]/g, '').replace('.000', '')}`,
      });
    });
    // One after another (buffer_all), each run with its own scheduled time.
    expect(seen.map((s) => s.scheduledTime)).toEqual(WEEK);

    const again = await cli(args, registry);
    expect(again.code).toBe(0);
    const repeat = json(again.stdout);
    expect(repeat.trigger.backfill).toMatchObject({ times: 7, done_before: 7, remaining: 0 });
    for (const t of WEEK) {
      expect(repeat.collectors[`daily@${t}`]).toMatchObject({
        status: 'skipped',
        reason: 'already_backfilled',
        backfilled_by: report.execution_id,
        previous_status: 'success',
      });
    }
    expect(seen).toHaveLength(7);
  });

  it('HTTP mode: a run that no longer fits before the deadline is not started; the next call resumes there', async () => {
    const seen: SeenRun[] = [];
    // Each run takes 30 s (of the fake clock); 100 s of deadline hold three of them with a 40 s timeout.
    const registry = new CollectorRegistry([
      testCollector('daily', async (ctx) => {
        await ctx.clock.sleep(30_000, ctx.signal);
        seen.push({
          collector: 'daily',
          executionId: ctx.executionId,
          scheduledTime: ctx.scheduledTime.toISOString(),
          at: new Date(ctx.clock.now()).toISOString(),
        });
        return { records: 1 };
      }),
    ]);
    const config = configFile(
      '  daily: { schedule: "5 1 * * *", timeout_seconds: 40 }\n',
      '  deadline_seconds: 100\n',
    );
    const args = ['backfill', 'daily', '--from', FROM, '--to', TO, '--config', config, '--json'];
    const calls: ExecutionReport[] = [];
    for (let i = 0; i < 3; i++) {
      const { code, stdout } = await cli(args, registry);
      expect(code).toBe(0);
      calls.push(json(stdout));
    }
    expect(calls.map((r) => r.trigger.backfill!.remaining)).toEqual([4, 1, 0]);
    expect(calls[0]!.collectors[`daily@${WEEK[3]}`]).toMatchObject({
      status: 'skipped',
      reason: 'not_started',
      error: expect.stringMatching(
        /10 s left before scheduler\.deadline_seconds, less than its timeout_seconds \(40 s\); the next call of this backfill resumes here/,
      ),
    });
    expect(seen.map((s) => s.scheduledTime)).toEqual(WEEK);
  });

  describe('bad input: a clear error, and nothing runs', () => {
    const cases = [
      {
        name: 'an unknown collector',
        args: ['daly'],
        error: /unknown collector "daly" \(did you mean "daily"\?\)/,
      },
      {
        name: 'a range reaching into the future',
        args: ['daily', '--to', '2026-11-23T00:00:00Z'],
        error:
          /backfill of daily: to \(2026-11-23T00:00:00\.000Z\) is in the future \(now 2026-11-22T14:00:00\.000Z\); a backfill runs past times only; nothing was run/,
      },
      {
        name: 'a range longer than scheduler.backfill.max_range_days',
        args: ['daily', '--from', '2026-09-01T00:00:00Z'],
        error: /the range is 82\.0 days, longer than scheduler\.backfill\.max_range_days \(31\)/,
      },
      {
        name: 'a reversed range',
        args: ['daily', '--from', '2026-11-21T00:00:00Z', '--to', '2026-11-20T00:00:00Z'],
        error: /from \(2026-11-21T00:00:00\.000Z\) must be before to \(2026-11-20T00:00:00\.000Z\)/,
      },
      {
        name: 'more times than scheduler.backfill.max_runs',
        args: ['often'],
        error: /the range holds more than scheduler\.backfill\.max_runs \(500\) scheduled times; split it/,
      },
      {
        name: 'a paused collector',
        args: ['paused'],
        error: /backfill of paused: the collector is paused by ops at .*: upstream down; resume it first/,
      },
    ];
    it.each(cases)('$name', async (c) => {
      const seen: SeenRun[] = [];
      const registry = recordingRegistry(seen, ['daily', 'often', 'paused']);
      const config = configFile(
        '  daily: { schedule: "5 1 * * *" }\n  often: { schedule: "*/10 * * * *" }\n  paused: { schedule: "5 1 * * *" }\n',
      );
      expect(
        (
          await cli(
            ['pause', 'paused', '--reason', 'upstream down', '--by', 'ops', '--config', config],
            registry,
          )
        ).code,
      ).toBe(0);
      const [name, ...rest] = c.args;
      const options = new Map<string, string>([
        ['--from', FROM],
        ['--to', TO],
      ]);
      for (let i = 0; i < rest.length; i += 2) options.set(rest[i]!, rest[i + 1]!);
      const { code, stderr } = await cli(
        ['backfill', name!, ...[...options].flat(), '--config', config],
        registry,
      );
      expect(code).toBe(2);
      expect(stderr).toMatch(c.error);
      expect(seen).toEqual([]);
      const status = await cli(['status', '--config', config], registry);
      expect(status.stderr).toMatch(/no execution report yet/);
    });
  });

  it('XMP daily: a 7-day backfill fetches each day before its scheduled time (T-1)', async () => {
    const clock = new FakeClock();
    const up = await startXmpUpstream({
      clientId: 'bf-client',
      clientSecret: 'bf-secret-7a2c',
      clock,
      requestsPerMinute: null,
    });
    try {
      const config = configFile(
        `  xmp-daily:\n    collector: xmp\n    schedule: "5 1 * * *"\n    options: { base_url: "${up.baseUrl}", mode: daily, timezone: Europe/Paris, account: backfill-${kind}, requests_per_minute: 600, reports: [ad_report] }\n`,
      );
      let stdout = '';
      const io: CliIO = {
        stdout: (t) => (stdout += t),
        stderr: () => undefined,
        env: { XMP_CLIENT_ID: 'bf-client', XMP_CLIENT_SECRET: 'bf-secret-7a2c' },
        cwd: process.cwd(),
      };
      const code = await main(
        ['backfill', 'xmp-daily', '--from', FROM, '--to', TO, '--config', config, '--json'],
        io,
        {
          clock,
          registry: new CollectorRegistry([xmp]),
        },
      );
      expect(code).toBe(0);
      const report = json(stdout);
      const days = [
        '2026-11-14',
        '2026-11-15',
        '2026-11-16',
        '2026-11-17',
        '2026-11-18',
        '2026-11-19',
        '2026-11-20',
      ];
      WEEK.forEach((t, i) =>
        expect(report.collectors[`xmp-daily@${t}`]).toMatchObject({
          status: 'success',
          result: { summary: { days: [days[i]] } },
        }),
      );
      // The report calls (the metric-fields check carries no dates), one per day.
      expect(
        up.calls.filter((c) => c.outcome === 'ok' && 'start_date' in c.body).map((c) => c.body['start_date']),
      ).toEqual(days);
    } finally {
      await up.close();
    }
  });
});

describe.each(STORE_KINDS)('backfill in tasks mode on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let rig: Rig | null = null;
  afterEach(async () => {
    await rig?.close();
    rig = null;
  });

  const backfill = async (r: Rig, body: unknown) => {
    const response = await fetch(`${r.url}/backfills`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as ExecutionReport };
  };

  it('a 7-day backfill is 7 tasks, spread out, each run with its own scheduled time; repeated, it creates nothing', async () => {
    const seen: SeenRun[] = [];
    // Cloud Tasks' time moves only when the test says: each task is delivered at its schedule time.
    const queueClock = new FakeClock(START, false);
    const r = (rig = await startRig({
      mode: 'tasks',
      storage,
      dir: dirs.make(`bf-tasks-${kind}`),
      registry: recordingRegistry(seen, ['daily']),
      collectors: { daily: '{ schedule: "5 1 * * *", timeout_seconds: 120 }' },
      tasksServer: { clock: queueClock },
    }));
    const first = await backfill(r, { collector: 'daily', from: FROM, to: TO });
    expect(first.status).toBe(200);
    const id = first.body.trigger.backfill!.id;
    const created = r.tasks!.requests.filter((c) => c.method === 'CreateTask');
    expect(created).toHaveLength(7);
    WEEK.forEach((t, i) => {
      expect(first.body.collectors[`daily@${t}`]).toMatchObject({
        status: 'scheduled',
        trigger: { kind: 'backfill', scheduled_time: t },
        task_name: r.tasks!.taskPath('collectors', taskIdFor('daily', t, `backfill:${id}`)),
        // buffer_all: one timeout (120 s) apart, from the trigger's time.
        ...(i > 0
          ? { schedule_time: new Date(Date.parse('2026-11-22T14:00:00Z') + i * 120_000).toISOString() }
          : {}),
      });
    });
    // Two minutes apart, one run each time, oldest first.
    for (let i = 1; i <= 7; i++) {
      queueClock.advance(i === 1 ? 0 : 120_000);
      await until(
        () => r.tasks!.attempts.filter((a) => a.status === 200).length === i,
        `backfill run ${i} answered`,
      );
      expect(seen).toHaveLength(i);
    }
    await r.settled();
    expect(seen.map((s) => s.scheduledTime)).toEqual(WEEK);
    expect(r.tasks!.attempts.map((a) => a.status)).toEqual(WEEK.map(() => 200));
    const merged = await r.get(`/reports/${first.body.execution_id}`);
    expect(merged.body.summary).toMatchObject({ total: 7, succeeded: 7 });

    const again = await backfill(r, { collector: 'daily', from: FROM, to: TO });
    expect(again.status).toBe(200);
    expect(again.body.summary).toMatchObject({ total: 7, skipped: 7 });
    expect(r.tasks!.requests.filter((c) => c.method === 'CreateTask')).toHaveLength(7);
    await r.settled();
    expect(seen).toHaveLength(7);

    // The dry run says the same without sending anything.
    const dry = await backfill(r, { collector: 'daily', from: FROM, to: TO, dryRun: true });
    expect(dry.body.trigger.backfill).toMatchObject({ times: 7, done_before: 7, remaining: 0 });
  });

  it('refuses bad input over HTTP with 400 naming the field, and runs nothing', async () => {
    const r = (rig = await startRig({
      mode: 'tasks',
      storage,
      dir: dirs.make(`bf-bad-${kind}`),
      registry: recordingRegistry([], ['daily']),
      collectors: { daily: '{ schedule: "5 1 * * *" }' },
    }));
    const future = await backfill(r, { collector: 'daily', from: FROM, to: '2027-01-01T00:00:00Z' });
    expect(future.status).toBe(400);
    expect(JSON.stringify(future.body)).toMatch(/is in the future/);
    const unknownField = await backfill(r, {
      collector: 'daily',
      from: FROM,
      to: TO,
      url: 'http://evil.example',
    });
    expect(unknownField.status).toBe(400);
    expect(JSON.stringify(unknownField.body)).toMatch(/url: unknown field/);
    const badOverlap = await backfill(r, { collector: 'daily', from: FROM, to: TO, overlap: 'skip' });
    expect(JSON.stringify(badOverlap.body)).toMatch(/overlap: must be one of buffer_all, allow_all/);
    expect(r.tasks!.requests.filter((c) => c.method === 'CreateTask')).toHaveLength(0);
  });
});
