/**
 * Sharded collectors (`shards: true`), in both dispatch modes and on both stores: each shard runs on
 * its own (its own call or Cloud Task, its own run record), the report shows the shards per collector,
 * a forced re-run of a tick runs only the failed shards, HTTP mode carries what the deadline stopped
 * over to the next tick, and the route refuses shards that are not the execution's.
 */
import { DISPATCH_MODES, type DispatchMode } from '../../src/config/types';
import { PermanentError } from '../../src/runtime/errors';
import { CollectorRegistry } from '../../src/runtime/registry';
import { readRunRecord } from '../../src/runtime/run-records';
import { closeTasksClients } from '../../src/tasks/client';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { shardedTestCollector, writesOne } from '../support/test-collectors';
import { until } from '../support/wait';
import { startRig, type Rig } from '../modes/rig';

const dirs = tempDirs();
afterAll(async () => {
  await closeTasksClients();
  dirs.cleanup();
});

const TICK = '2026-11-22T14:00:00Z';
const tickHeaders = (at: string) => ({ 'x-cloudscheduler-scheduletime': at, 'x-cloudscheduler': 'true' });

/** `zones` lists five shards: `bad` always fails, `flaky` fails its first attempt, `hang` may hang. */
function registry(behaviour: { hangOnce?: string } = {}) {
  const runs: string[] = [];
  let flaky = 0;
  let hung = false;
  const zones = shardedTestCollector('zones', async (ctx, shard) => {
    runs.push(`${shard}@${ctx.scheduledTime.toISOString()}`);
    expect(ctx.options['keys']).toEqual([shard]);
    if (shard === behaviour.hangOnce && !hung) {
      hung = true;
      await new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }),
      );
    }
    if (shard === 'bad') throw new PermanentError(`commune ${shard}: no such commune`);
    if (shard === 'flaky' && flaky++ === 0) throw new Error('upstream reset the connection');
    await ctx.output.write(`${shard}.json`, '{}', { contentType: 'application/json', records: 1 });
    return { records: 1 };
  });
  return { registry: new CollectorRegistry([zones, writesOne('plain', 2)]), runs };
}

const COLLECTORS = {
  zones: '{ schedule: "0 * * * *", shards: true, options: { keys: [a, b, flaky, bad, c] } }',
  plain: '{ schedule: "0 * * * *" }',
};

describe.each(STORE_KINDS)('sharded collectors on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());

  describe.each(DISPATCH_MODES)('in %s mode', (mode: DispatchMode) => {
    let rig: Rig;
    let runs: string[];
    beforeEach(async () => {
      const made = registry();
      runs = made.runs;
      rig = await startRig({
        mode,
        storage,
        dir: dirs.make(`shards-${mode}`),
        registry: made.registry,
        collectors: COLLECTORS,
      });
    });
    afterEach(() => rig.close());

    it('runs each shard on its own, with a run record each, and reports the shards per collector', async () => {
      const triggered = await rig.trigger(undefined, tickHeaders(TICK));
      const id = triggered.body.execution_id;
      if (mode === 'tasks') {
        expect(triggered.body.collectors['zones']).toMatchObject({
          status: 'scheduled',
          shards: { total: 5, pending: 5, done: 0, failed: 0 },
        });
        // One task per shard, named for its shard, and one for the other collector.
        expect(rig.tasks!.tasks.map((t) => t.id.replace(/^[0-9a-f]{16}-/, '')).sort()).toEqual(
          [
            'plain-20261122T140000000Z',
            ...['a', 'b', 'bad', 'c', 'flaky'].map((k) => `zones-${k}-20261122T140000000Z`),
          ].sort(),
        );
      }
      await rig.settled();
      const status = await rig.get('/status');
      expect(status.body.execution_id).toBe(id);
      const zones = status.body.collectors['zones']!;
      expect(zones).toMatchObject({
        status: 'success',
        partial: true,
        shards: { total: 5, done: 4, failed: 1, running: 0, pending: 0, retried: 1 },
        shard_failures: [{ shard: 'bad', error: 'commune bad: no such commune', attempts: 1 }],
      });
      expect(zones.error).toMatch(/^1 of 5 shards failed \(first: bad: commune bad: no such commune\)/);
      expect(status.body.collectors['plain']).toMatchObject({ status: 'success' });
      expect(status.body.summary).toMatchObject({ total: 2, succeeded: 2, failed: 0, partial: 1 });
      if (mode === 'http') expect(triggered.body.collectors['zones']).toEqual(zones);

      // Every shard ran once for the tick (flaky twice), and left its own record.
      expect(runs.filter((r) => r.startsWith('flaky@'))).toHaveLength(2);
      expect(new Set(runs)).toEqual(
        new Set(['a', 'b', 'flaky', 'bad', 'c'].map((k) => `${k}@2026-11-22T14:00:00.000Z`)),
      );
      const state = rig.services.stores.state;
      for (const key of ['a', 'b', 'c'])
        expect(await readRunRecord(state, id, 'zones', key)).toMatchObject({
          status: 'success',
          shard: key,
          attempt: 1,
          manifest: { totals: { objects: 1 } },
        });
      expect(await readRunRecord(state, id, 'zones', 'flaky')).toMatchObject({
        status: 'success',
        attempt: 2,
      });
      expect(await readRunRecord(state, id, 'zones', 'bad')).toMatchObject({
        status: 'failed',
        retryable: false,
      });
      // No record of the collector as a whole: its runs are its shards.
      expect(await readRunRecord(state, id, 'zones')).toBeNull();
    });

    it('a forced re-run of the tick runs only the shards that failed', async () => {
      const first = await rig.trigger(undefined, tickHeaders(TICK));
      await rig.settled();
      runs.length = 0;
      const again = await rig.trigger({ force: true }, tickHeaders(TICK));
      expect(again.status).not.toBe(409);
      await rig.settled();
      expect(runs).toEqual(['bad@2026-11-22T14:00:00.000Z']);
      const status = await rig.get(`/reports/${again.body.execution_id}`);
      expect(status.body.collectors['zones']).toMatchObject({
        status: 'failed',
        rerun_of: first.body.execution_id,
        shards: { total: 1, failed: 1, done: 0 },
      });
    });
  });

  describe('in http mode, against the deadline', () => {
    it('carries the shards the deadline stopped over to the next tick, for the time they were listed for', async () => {
      const made = registry({ hangOnce: 'a' });
      const rig = await startRig({
        mode: 'http',
        storage,
        dir: dirs.make('shards-carry'),
        registry: made.registry,
        collectors: { zones: '{ schedule: "0 * * * *", shards: true, options: { keys: [a, b, c, d, e] } }' },
        scheduler: '  max_concurrent_collectors: 1\n  deadline_seconds: 60',
      });
      try {
        const first = rig.trigger(undefined, tickHeaders(TICK));
        await until(() => made.runs.length > 0, 'shard a started');
        rig.clock.advance(60_000);
        const stopped = await first;
        expect(made.runs).toEqual(['a@2026-11-22T14:00:00.000Z']);
        expect(stopped.body.collectors['zones']).toMatchObject({
          status: 'failed',
          shards: { total: 5, failed: 1, done: 0, carried_over: 4 },
          shard_failures: [{ shard: 'a', error_type: 'Timeout' }],
        });

        made.runs.length = 0;
        const next = await rig.trigger(undefined, tickHeaders('2026-11-22T15:00:00Z'));
        // The carried shards first, for 14:00; then this tick's own (a), for 15:00.
        expect(made.runs).toEqual([
          'b@2026-11-22T14:00:00.000Z',
          'c@2026-11-22T14:00:00.000Z',
          'd@2026-11-22T14:00:00.000Z',
          'e@2026-11-22T14:00:00.000Z',
          'a@2026-11-22T15:00:00.000Z',
        ]);
        expect(next.body.collectors['zones']).toMatchObject({
          status: 'success',
          shards: { total: 5, done: 5, failed: 0 },
          shards_from_earlier: 4,
        });
        expect(next.body.collectors['zones']).not.toHaveProperty('shards.carried_over');
      } finally {
        await rig.close();
      }
    });
  });
});
