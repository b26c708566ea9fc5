/**
 * Tasks mode end to end, on both stores: a trigger creates Cloud Tasks (real client, loopback Cloud
 * Tasks server), the server delivers them with OIDC tokens to the scheduler's collector routes, runs
 * write their records, and the status merges them: running first, then how each run ended.
 */
import { main, type CliIO } from '../../src/cli/main';
import { PermanentError } from '../../src/runtime/errors';
import { CollectorRegistry } from '../../src/runtime/registry';
import { readRunRecord } from '../../src/runtime/run-records';
import { closeTasksClients } from '../../src/tasks/client';
import { taskIdFor } from '../../src/tasks/naming';
import { FakeClock } from '../support/fake-clock';
import { decodeIdToken } from '../support/id-tokens';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { testCollector, writesOne } from '../support/test-collectors';
import { SA, START, startRig, type Rig, type RigOptions } from '../modes/rig';

const dirs = tempDirs();
afterAll(async () => {
  await closeTasksClients();
  dirs.cleanup();
});

const TICK = '2026-11-22T13:00:00.000Z';
const tickHeaders = (job: string) => ({
  'x-cloudscheduler': 'true',
  'x-cloudscheduler-scheduletime': TICK,
  'x-cloudscheduler-jobname': `projects/test-project/locations/europe-west1/jobs/${job}`,
});

/** A collector that runs until released, telling when it started. */
function gate() {
  let release!: () => void;
  let started!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const began = new Promise<void>((resolve) => (started = resolve));
  return { release, began, started, released };
}

describe.each(STORE_KINDS)('tasks mode end to end, on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let rig: Rig | null = null;
  afterEach(async () => {
    await rig?.close();
    rig = null;
  });

  const start = async (options: Omit<RigOptions, 'mode' | 'storage' | 'dir'>) => {
    rig = await startRig({ mode: 'tasks', storage, dir: dirs.make('e2e'), ...options });
    return rig;
  };

  it('trigger → tasks with OIDC tokens → collector routes → run records → status: running, then the outcome', async () => {
    const slow = gate();
    const r = await start({
      registry: new CollectorRegistry([
        writesOne('ok', 2),
        testCollector('slow', async () => {
          slow.started();
          await slow.released;
          return { records: 5 };
        }),
      ]),
      collectors: { ok: '{}', slow: '{ timeout_seconds: 3600 }' },
      urlSuffix: '?key=abc',
    });
    const triggered = await r.trigger();
    expect(triggered.status).toBe(200);
    const id = triggered.body.execution_id;
    const scheduledTime = triggered.body.trigger.scheduled_time;
    const okTask = r.tasks!.taskPath('collectors', taskIdFor('ok', scheduledTime));
    expect(triggered.body.collectors['ok']).toMatchObject({
      status: 'scheduled',
      task_name: okTask,
      queue: 'collectors',
      dispatch_deadline_seconds: 300,
    });
    expect(triggered.body.collectors['slow']).toMatchObject({
      status: 'scheduled',
      dispatch_deadline_seconds: 1800,
      warning: expect.stringMatching(/over Cloud Tasks' 1800 s dispatch deadline/),
    });

    await r.tasks!.waitForTask(okTask);
    await slow.began;
    const during = await r.get('/status');
    expect(during.body.execution_id).toBe(id);
    expect(during.body.collectors['ok']).toMatchObject({ status: 'success', attempts: 1, http_status: 200 });
    expect(during.body.collectors['slow']).toMatchObject({
      status: 'running',
      attempts: 1,
      http_status: null,
      start_time: START.replace('Z', '.000Z'),
      end_time: null,
    });
    expect(during.body.summary).toMatchObject({ total: 2, succeeded: 1, running: 1, scheduled: 0 });

    slow.release();
    await r.settled();
    const after = await r.get(`/reports/${id}`);
    expect(after.body.collectors['slow']).toMatchObject({
      status: 'success',
      result: { records: 5 },
      http_status: 200,
    });
    expect(after.body.summary).toMatchObject({ total: 2, succeeded: 2, running: 0 });

    // What Cloud Tasks delivered: the payload, as the collector's own service account, for the URL
    // without its query string.
    const attempt = r.tasks!.attemptsOf(okTask)[0]!;
    expect(JSON.parse(attempt.request.body.toString('utf8'))).toEqual({
      executionId: id,
      collector: 'ok',
      scheduledTime,
      attempt: 1,
    });
    expect(attempt.request.url).toBe(`${r.url}/collectors/ok?key=abc`);
    expect(decodeIdToken(attempt.request.headers['Authorization'])).toMatchObject({
      aud: `${r.url}/collectors/ok`,
      email: SA,
    });
    // The stored report stays what the trigger answered; only reads merge.
    const stored = await r.services.stores.reports.get(`latest.json`);
    expect(JSON.parse(stored!.data.toString('utf8')).summary).toMatchObject({ scheduled: 2 });
  });

  it('a repeated trigger is refused by Cloud Tasks: scheduled with duplicate: true, showing the run of the execution that owns it', async () => {
    let runs = 0;
    const r = await start({
      registry: new CollectorRegistry([
        testCollector('ok', async () => {
          runs++;
          return { records: 1 };
        }),
      ]),
      collectors: { ok: '{ schedule: "0 14 * * *" }' },
    });
    // Held in the queue until both triggers are in, as when the first run has not started yet.
    r.tasks!.createQueue('collectors', { paused: true });
    // Two Cloud Scheduler jobs firing the same tick: the tick markers differ, but the run's claim
    // (collector, scheduled time) in the state store is taken once: no second task is even asked for.
    const first = await r.trigger(undefined, tickHeaders('master'));
    const copy = await r.trigger(undefined, tickHeaders('master-copy'));
    expect(first.body.collectors['ok']!.duplicate).toBeUndefined();
    expect(copy.body.collectors['ok']).toMatchObject({
      status: 'skipped',
      reason: 'already_claimed',
      claimed_by: first.body.execution_id,
    });
    // An explicit run for the tick's time does not claim it: its task name is the tick's, so Cloud
    // Tasks refuses it.
    const second = await r.trigger({ collectors: ['ok'], at: TICK });
    expect(second.status).toBe(200);
    expect(second.body.collectors['ok']).toMatchObject({
      status: 'scheduled',
      error: null,
      duplicate: true,
      duplicate_of: first.body.execution_id,
    });
    expect(second.body.summary).toMatchObject({ failed: 0, scheduled: 1 });
    expect(r.tasks!.requests.filter((c) => c.method === 'CreateTask').map((c) => c.code)).toEqual([0, 6]);

    r.tasks!.createQueue('collectors', { paused: false });
    await r.settled();
    expect(runs).toBe(1);
    const report = await r.get(`/reports/${second.body.execution_id}`);
    expect(report.body.collectors['ok']).toMatchObject({ status: 'success', duplicate: true, attempts: 1 });
  });

  it('a group member whose group is busy is retried by the queue (503), and runs once the group is free', async () => {
    let runs = 0;
    const r = await start({
      registry: new CollectorRegistry([
        testCollector('xmp-daily', async () => {
          runs++;
          return { records: 1 };
        }),
      ]),
      collectors: { 'xmp-daily': '{ group: xmp-account, group_wait_seconds: 5 }' },
    });
    // Another execution's member holds the group (as a manual HTTP-mode run would).
    const held = await r.services.leases.tryAcquire(
      'group-xmp-account',
      '20261122T135900Z-0f0f0f0f/xmp/abcd',
      3_600_000,
    );
    if (!held.acquired) throw new Error('expected to hold the group');
    const triggered = await r.trigger({ collectors: ['xmp-daily'] });
    expect(triggered.body.collectors['xmp-daily']!.status).toBe('scheduled');
    await r.tasks!.waitFor((t) => t.attempts.some((a) => a.status === 503));
    const busy = await r.get('/status');
    expect(busy.body.collectors['xmp-daily']).toMatchObject({
      status: 'running',
      retrying: true,
      reason: 'group_busy',
      holder_execution_id: '20261122T135900Z-0f0f0f0f',
    });
    await held.lease.release();
    await r.settled();
    expect(runs).toBe(1);
    // The queue may have retried again before the release (its backoff runs in real time): every
    // delivery but the last was a busy 503, and the last one ran.
    const deliveries = r.tasks!.attempts.map((a) => a.status);
    expect(deliveries.slice(0, -1).every((status) => status === 503)).toBe(true);
    expect(deliveries.at(-1)).toBe(200);
    const done = await r.get('/status');
    expect(done.body.collectors['xmp-daily']).toMatchObject({
      status: 'success',
      attempts: deliveries.length,
    });
  });

  it('a forced re-run of a tick is a new task, not refused as a repeat', async () => {
    let runs = 0;
    const r = await start({
      registry: new CollectorRegistry([
        testCollector('ok', async () => {
          runs++;
          return { records: 1 };
        }),
      ]),
      collectors: { ok: '{ schedule: "0 14 * * *" }' },
    });
    const first = await r.trigger(undefined, tickHeaders('master'));
    await r.settled();
    const again = await r.trigger(undefined, tickHeaders('master'));
    expect(again.status).toBe(409);
    const forced = await r.trigger({ force: true }, tickHeaders('master'));
    expect(forced.status).toBe(200);
    expect(forced.body.trigger.forced).toBe(true);
    expect(forced.body.collectors['ok']!.duplicate).toBeUndefined();
    expect(forced.body.collectors['ok']!.task_name).not.toBe(first.body.collectors['ok']!.task_name);
    await r.settled();
    expect(runs).toBe(2);
  });

  it('a collector failing with a retryable error is retried by the queue, and shows running (retrying) between attempts', async () => {
    let calls = 0;
    const tasksClock = new FakeClock(START, false);
    const r = await start({
      registry: new CollectorRegistry([
        testCollector('flaky', async () => {
          if (++calls <= 2) throw new Error(`upstream reset the connection (call ${calls})`);
          return { records: 7 };
        }),
      ]),
      collectors: { flaky: '{}' },
      tasksServer: { clock: tasksClock },
    });
    const { body } = await r.trigger();
    const task = body.collectors['flaky']!['task_name'] as string;
    await r.tasks!.waitFor((s) => s.attemptsOf(task)[0]?.outcome === 'http-error');

    const between = await r.get('/status');
    expect(between.body.collectors['flaky']).toMatchObject({
      status: 'running',
      retrying: true,
      attempts: 1,
      http_status: 503,
      error: 'upstream reset the connection (call 1)',
    });

    for (let i = 0; i < 2; i++) {
      const n = i + 1;
      await r.tasks!.waitFor(
        (s) => s.attemptsOf(task)[i]?.backoffMs !== null && s.attemptsOf(task).length === n,
      );
      tasksClock.advance(r.tasks!.attemptsOf(task)[i]!.backoffMs!);
    }
    const record = await r.tasks!.waitForTask(task);
    expect(record.state).toBe('succeeded');
    expect(record.attempts.map((a) => a.status)).toEqual([503, 503, 200]);
    expect(record.attempts.map((a) => a.request.headers['X-CloudTasks-TaskRetryCount'])).toEqual([
      '0',
      '1',
      '2',
    ]);

    const after = await r.get('/status');
    expect(after.body.collectors['flaky']).toMatchObject({
      status: 'success',
      attempts: 3,
      http_status: 200,
      error: null,
      result: { records: 7 },
    });
    expect(after.body.collectors['flaky']!['retrying']).toBeUndefined();
  });

  it('a permanently failing collector answers 2xx with a failed record: Cloud Tasks does not retry it', async () => {
    const r = await start({
      registry: new CollectorRegistry([
        testCollector('bad-options', async () => {
          throw new PermanentError('options.departements.0: is not a département code');
        }),
      ]),
      collectors: { 'bad-options': '{}' },
    });
    const { body } = await r.trigger();
    await r.settled();
    const task = r.tasks!.task(body.collectors['bad-options']!['task_name'] as string)!;
    expect(task.state).toBe('succeeded');
    expect(task.attempts.map((a) => a.status)).toEqual([200]);
    const status = await r.get('/status');
    expect(status.status).toBe(200);
    expect(status.body.collectors['bad-options']).toMatchObject({
      status: 'failed',
      attempts: 1,
      http_status: 200,
      error: 'options.departements.0: is not a département code',
      error_type: 'COLLECTOR_FAILED',
    });
    expect(status.body.summary).toMatchObject({ failed: 1, scheduled: 0 });
    const run = await readRunRecord(r.services.stores.state, body.execution_id, 'bad-options');
    expect(run).toMatchObject({ status: 'failed', retryable: false });
  });

  it('a malformed payload is refused with 400 and records nothing', async () => {
    const r = await start({ registry: new CollectorRegistry([writesOne('ok')]), collectors: { ok: '{}' } });
    const response = await fetch(`${r.url}/collectors/ok`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ executionId: '../../etc', collector: 'ok', scheduledTime: 'yesterday' }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('REQUEST_INVALID');
    expect(body.error.message).toMatch(
      /executionId: must be an execution id.*scheduledTime: must be an ISO 8601 time/,
    );
    let records = 0;
    for await (const _ of r.services.stores.state.list('runs/')) records++;
    expect(records).toBe(0);
  });

  it('`scheduler run --mode tasks` schedules through CLOUD_TASKS_EMULATOR_HOST and exits 0', async () => {
    const r = await start({ registry: new CollectorRegistry([writesOne('ok')]), collectors: { ok: '{}' } });
    let stdout = '';
    let stderr = '';
    const io: CliIO = {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      env: { ...process.env, CLOUD_TASKS_EMULATOR_HOST: r.tasks!.address },
      cwd: process.cwd(),
    };
    const code = await main(['run', '--mode', 'tasks', '--config', r.configFile], io, {
      registry: r.services.registry,
      clock: new FakeClock('2026-11-22T15:00:00Z'),
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ok\s+scheduled\s+-\s+0\s/m);
    expect(stdout).toMatch(/1 collector, 0 succeeded, 0 failed, 0 skipped, 1 scheduled/);
    expect(stderr).toMatch(/✓ ok: scheduled/);
    await r.settled();
    expect(r.tasks!.tasks[0]!.state).toBe('succeeded');
  });
});
