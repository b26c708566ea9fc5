import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import { CollectorRegistry } from '../../src/runtime/registry';
import { OVERLAP_POLL_MS } from '../../src/schedule/gate';
import { closeTasksClients } from '../../src/tasks/client';
import { FakeClock } from '../support/fake-clock';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { testCollector } from '../support/test-collectors';
import { until } from '../support/wait';
import { START, startRig, type Rig } from '../modes/rig';
import { instance, storageYaml, type SeenRun } from './support';

const dirs = tempDirs();
afterAll(async () => {
  await closeTasksClients();
  dirs.cleanup();
});

const AT = '2026-11-22T14:00:00Z';
const runSlow = makeTrigger('http', { collectors: ['slow'] });

/** `slow` runs until the test releases it; every run is recorded once it starts. */
function slowRegistry(seen: SeenRun[]) {
  let release!: () => void;
  let released = new Promise<void>((resolve) => (release = resolve));
  const registry = new CollectorRegistry([
    testCollector('slow', async (ctx) => {
      seen.push({
        collector: 'slow',
        executionId: ctx.executionId,
        scheduledTime: ctx.scheduledTime.toISOString(),
        at: new Date(ctx.clock.now()).toISOString(),
      });
      await released;
      return { records: 1 };
    }),
  ]);
  return {
    registry,
    release: () => {
      release();
      released = Promise.resolve();
    },
  };
}

describe.each(STORE_KINDS)('overlap policy across instances on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;
  const yaml = (policy: string) =>
    `${storageYaml(storage, `overlap-${++n}`)}collectors:\n  slow: { timeout_seconds: 600${policy ? `, overlap: ${policy}` : ''} }\n`;

  it('skip (the default): a run while the previous one goes on in another instance is skipped, naming it', async () => {
    const config = yaml('');
    const seen: SeenRun[] = [];
    const slow = slowRegistry(seen);
    const a = await instance(config, { registry: slow.registry, at: AT });
    const b = await instance(config, { registry: slow.registry, at: AT });
    try {
      const first = execute(a, runSlow);
      await until(() => seen.length === 1, 'the first run started');
      const { report, httpStatus } = await execute(b, runSlow);
      expect(httpStatus).toBe(200);
      expect(report.collectors['slow']).toMatchObject({
        status: 'skipped',
        reason: 'still_running',
        running_execution_id: seen[0]!.executionId,
        // Refused by the collector route, which takes the run's lease as it starts.
        attempts: 1,
        error: expect.stringMatching(
          new RegExp(
            `^the previous run of slow \\(execution ${seen[0]!.executionId}, since 2026-11-22T14:00:00\\.000Z\\) is still running \\(overlap: skip\\)$`,
          ),
        ),
      });
      slow.release();
      expect((await first).report.collectors['slow']).toMatchObject({ status: 'success' });
      // Once it ended, the next run goes.
      expect((await execute(b, runSlow)).report.collectors['slow']).toMatchObject({ status: 'success' });
      expect(seen).toHaveLength(2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('buffer_one: one run waits for the running one and then runs; a second waiting run is skipped', async () => {
    const config = yaml('buffer_one');
    const seen: SeenRun[] = [];
    const slow = slowRegistry(seen);
    const a = await instance(config, { registry: slow.registry, at: AT });
    // B's time moves only when the test says, so its wait is observable.
    const b = await instance(config, { registry: slow.registry, at: AT, clock: new FakeClock(AT, false) });
    const c = await instance(config, { registry: slow.registry, at: AT });
    try {
      const first = execute(a, runSlow);
      await until(() => seen.length === 1, 'the first run started');
      const waiting = execute(b, runSlow);
      await until(() => b.clock.sleeps.includes(OVERLAP_POLL_MS), 'the second run waiting');
      const third = await execute(c, runSlow);
      expect(third.report.collectors['slow']).toMatchObject({
        status: 'skipped',
        reason: 'still_running',
        error: expect.stringMatching(
          /is still running \(overlap: buffer_one\); another run already waits \(buffer_one\)$/,
        ),
      });
      expect(seen).toHaveLength(1);
      slow.release();
      await first;
      b.clock.advance(OVERLAP_POLL_MS);
      const buffered = await waiting;
      expect(buffered.report.collectors['slow']).toMatchObject({ status: 'success' });
      expect(seen.map((s) => s.executionId)).toEqual([
        (await first).report.execution_id,
        buffered.report.execution_id,
      ]);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('allow: runs side by side', async () => {
    const config = yaml('allow');
    const seen: SeenRun[] = [];
    const slow = slowRegistry(seen);
    const a = await instance(config, { registry: slow.registry, at: AT });
    const b = await instance(config, { registry: slow.registry, at: AT });
    try {
      const first = execute(a, runSlow);
      await until(() => seen.length === 1, 'the first run started');
      const second = execute(b, runSlow);
      await until(() => seen.length === 2, 'the second run started while the first goes on');
      slow.release();
      expect((await first).report.collectors['slow']!.status).toBe('success');
      expect((await second).report.collectors['slow']!.status).toBe('success');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe.each(STORE_KINDS)('overlap policy on delivery in tasks mode on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let rig: Rig | null = null;
  afterEach(async () => {
    await rig?.close();
    rig = null;
  });

  it('skip answers 200 (not retried); buffer_one answers 503, so Cloud Tasks delivers it again once the other ended', async () => {
    const seen: SeenRun[] = [];
    const queueClock = new FakeClock(START, false);
    const record = (name: string) =>
      testCollector(name, async (ctx) => {
        seen.push({
          collector: name,
          executionId: ctx.executionId,
          scheduledTime: ctx.scheduledTime.toISOString(),
          at: '',
        });
        return { records: 1 };
      });
    const r = (rig = await startRig({
      mode: 'tasks',
      storage,
      dir: dirs.make(`overlap-tasks-${kind}`),
      registry: new CollectorRegistry([record('plain'), record('buffered')]),
      collectors: { plain: '{}', buffered: '{ overlap: buffer_one }' },
      tasksServer: { clock: queueClock },
    }));
    // Runs of both started by another execution (another instance), still going.
    const other = '20261122T135900Z-0f0f0f0f';
    for (const name of ['plain', 'buffered']) {
      const held = await r.services.leases.tryAcquire(`run-${name}`, `${other}/${name}/abcd`, 3_600_000);
      expect(held.acquired).toBe(true);
    }
    const triggered = await r.trigger();
    queueClock.advance(0);
    await until(() => r.tasks!.attempts.filter((a) => a.status !== null).length === 2, 'both delivered once');
    const byTask = (name: string) =>
      r.tasks!.attempts.filter((a) => a.request.url.endsWith(`/collectors/${name}`));
    expect(byTask('plain').map((a) => a.status)).toEqual([200]);
    expect(byTask('buffered').map((a) => a.status)).toEqual([503]);
    const during = await r.get(`/reports/${triggered.body.execution_id}`);
    expect(during.body.collectors['plain']).toMatchObject({
      status: 'skipped',
      reason: 'still_running',
      running_execution_id: other,
    });
    expect(during.body.collectors['buffered']).toMatchObject({
      status: 'running',
      retrying: true,
      reason: 'still_running',
    });
    expect(seen).toEqual([]);

    // The other run of `buffered` ends (its lease goes); the queue's next delivery runs it.
    expect((await r.services.leases.current('run-buffered'))?.executionId).toBe(other);
    await r.services.stores.state.delete('leases/run-buffered.json');
    queueClock.advance(60_000);
    await r.settled();
    expect(byTask('buffered').map((a) => a.status)).toEqual([503, 200]);
    expect(seen.map((s) => s.collector)).toEqual(['buffered']);
    const after = await r.get(`/reports/${triggered.body.execution_id}`);
    expect(after.body.collectors['buffered']).toMatchObject({ status: 'success', attempts: 2 });
  });
});
