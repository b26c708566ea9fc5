/**
 * The collector route's shard deliveries: a shard key travels in the payload, so it is checked before
 * anything runs (its shape, the collector's own options, the execution's shard index); and a long list
 * is enqueued by one fan-out task, which creates every shard's task in its own call.
 */
import { CollectorRegistry } from '../../src/runtime/registry';
import { closeTasksClients } from '../../src/tasks/client';
import { storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { shardedTestCollector, writesOne } from '../support/test-collectors';
import { startRig, type Rig } from '../modes/rig';

const dirs = tempDirs();
const storage = storeFixture('fs');
beforeAll(() => storage.setup());
afterAll(async () => {
  await closeTasksClients();
  await storage.teardown();
  dirs.cleanup();
});

const TICK = '2026-11-22T14:00:00Z';
const tick = { 'x-cloudscheduler-scheduletime': TICK, 'x-cloudscheduler': 'true' };

function collectors(ran: string[]) {
  return new CollectorRegistry([
    shardedTestCollector('zones', async (_ctx, shard) => {
      ran.push(shard ?? '(whole)');
      return { records: 1 };
    }),
    writesOne('plain'),
  ]);
}

async function post(rig: Rig, name: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${rig.url}/collectors/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function messageOf(body: Record<string, unknown>): string {
  return (body['error'] as { message?: string } | undefined)?.message ?? '';
}

describe('shard deliveries that are not the execution’s are refused, and run nothing', () => {
  let rig: Rig;
  const ran: string[] = [];
  let executionId: string;
  beforeAll(async () => {
    rig = await startRig({
      mode: 'http',
      storage,
      dir: dirs.make('shard-route'),
      registry: collectors(ran),
      collectors: {
        zones: '{ schedule: "0 * * * *", shards: true, options: { keys: [a, b] } }',
        plain: '{ schedule: "0 * * * *" }',
      },
    });
    executionId = (await rig.trigger(undefined, tick)).body.execution_id;
    expect(ran.sort()).toEqual(['a', 'b']);
    ran.length = 0;
  });
  afterAll(() => rig.close());

  const payload = (extra: Record<string, unknown>) => ({
    executionId,
    collector: 'zones',
    scheduledTime: TICK,
    attempt: 1,
    ...extra,
  });

  it.each([
    ['a URL', { shard: 'https://evil.example/x' }, 400, /shard: must be a shard key/],
    ['a path', { shard: '../../etc/passwd' }, 400, /shard: must be a shard key/],
    ['an env var reference', { shard: '${HOME}' }, 400, /shard: must be a shard key/],
    ['a key the options do not list', { shard: 'zz' }, 400, /shard "zz" is not one of zones's/],
    ['shard and fanOut together', { shard: 'a', fanOut: true }, 400, /do not go together/],
    ['fanOut that is not true', { fanOut: 'yes' }, 400, /fanOut: must be true/],
  ])('%s', async (_, extra, status, message) => {
    const { status: got, body } = await post(rig, 'zones', payload(extra));
    expect(got).toBe(status);
    expect(messageOf(body)).toMatch(message);
    expect(ran).toEqual([]);
  });

  it('a listed key of another execution (no index lists it there)', async () => {
    const { status, body } = await post(rig, 'zones', {
      ...payload({ shard: 'a' }),
      executionId: '20261122T150000Z-ffffffff',
    });
    expect(status).toBe(404);
    expect(messageOf(body)).toMatch(/not a shard of zones in execution 20261122T150000Z-ffffffff/);
    expect(ran).toEqual([]);
  });

  it('a shard of a collector that does not shard', async () => {
    const { status, body } = await post(rig, 'plain', { ...payload({ shard: 'a' }), collector: 'plain' });
    expect(status).toBe(400);
    expect(messageOf(body)).toMatch(/plain does not run in shards/);
  });

  it('while a shard of the execution runs, with its options narrowed to it', async () => {
    const { status, body } = await post(rig, 'zones', payload({ shard: 'b' }));
    expect(status).toBe(200);
    // b ran once already in this execution: this delivery is its second attempt.
    expect(body['run']).toMatchObject({ status: 'success', shard: 'b', attempt: 2 });
    expect(ran).toEqual(['b']);
  });
});

describe('a long list of shards in tasks mode', () => {
  it('is enqueued by one fan-out task, whose delivery creates a task per shard', async () => {
    const keys = Array.from({ length: 1_050 }, (_, i) => `k${i}`);
    const rig = await startRig({
      mode: 'tasks',
      storage,
      dir: dirs.make('shard-fan-out'),
      registry: collectors([]),
      collectors: {
        zones: `{ schedule: "0 * * * *", shards: true, options: { keys: [${keys.join(', ')}] } }`,
      },
    });
    try {
      // Held, so that the tasks can be counted before any runs.
      rig.tasks!.createQueue('collectors', { paused: true });
      const triggered = await rig.trigger(undefined, tick);
      expect(triggered.body.collectors['zones']).toMatchObject({
        status: 'scheduled',
        shards: { total: 1_050, pending: 1_050 },
      });
      expect(rig.tasks!.tasks).toHaveLength(1);
      const fanOut = rig.tasks!.tasks[0]!;
      const body = JSON.parse(fanOut.task.httpRequest!.body!.toString('utf8')) as Record<string, unknown>;
      expect(body).toEqual({
        executionId: triggered.body.execution_id,
        collector: 'zones',
        scheduledTime: '2026-11-22T14:00:00.000Z',
        attempt: 1,
        fanOut: true,
      });

      // What Cloud Tasks would deliver: the fan-out's body to the collector's route.
      const delivered = await post(rig, 'zones', body, { 'x-cloudtasks-taskname': fanOut.id });
      expect(delivered.status).toBe(200);
      expect(delivered.body['fan_out']).toMatchObject({
        total: 1_050,
        pending: 1_050,
        scheduled: 1_050,
        failed: 0,
      });
      expect(rig.tasks!.tasks).toHaveLength(1 + 1_050);
      const shards = rig
        .tasks!.tasks.slice(1)
        .map((t) => JSON.parse(t.task.httpRequest!.body!.toString('utf8')));
      expect(new Set(shards.map((s: { shard: string }) => s.shard))).toEqual(new Set(keys));

      // Delivered again (a retry): the tasks exist, nothing is created twice.
      const again = await post(rig, 'zones', body, { 'x-cloudtasks-taskname': fanOut.id });
      expect(again.status).toBe(200);
      expect(rig.tasks!.tasks).toHaveLength(1 + 1_050);

      const status = await rig.get('/status');
      expect(status.body.collectors['zones']).toMatchObject({
        status: 'running',
        shards: { total: 1_050, pending: 1_050, done: 0 },
      });
    } finally {
      await rig.close();
    }
  });
});
