/**
 * A status of an execution with thousands of shards reads the shard index (its head and stripes), never
 * the shards' run records nor a listing; counted in store calls, on both stores.
 */
import { withRunRecords } from '../../src/report/merge';
import { buildReport } from '../../src/report/report';
import { SHARD_STRIPES } from '../../src/shards/layout';
import { ShardIndex, type ShardEntry } from '../../src/shards/shard-index';
import { openStore } from '../../src/store/open';
import { createLogger } from '../../src/util/log';
import { countingStore } from '../support/reports';
import { STORE_KINDS, storeFixture } from '../support/stores';

const EXECUTION = '20261122T140000Z-a1b2c3d4';
const SHARDS = 3_000;
const NOW = Date.parse('2026-11-22T14:30:00Z');

describe.each(STORE_KINDS)('a status of 3,000 shards on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());

  it('reads the index head and its stripes only, and counts every state', async () => {
    const state = await openStore(storage.uri('state'));
    const index = new ShardIndex(
      state,
      EXECUTION,
      'plu',
      createLogger(() => undefined),
    );
    const keys = Array.from({ length: SHARDS }, (_, i) => String(10000 + i));
    await index.create(keys, {
      scheduledTime: '2026-11-22T14:00:00.000Z',
      createdAt: '2026-11-22T14:00:01Z',
    });
    const marks = new Map<string, ShardEntry>();
    const mark = (from: number, to: number, entry: (k: string) => ShardEntry) => {
      for (const k of keys.slice(from, to)) marks.set(k, entry(k));
    };
    // 10 failed for good, 5 retried and done, 3 failing but with attempts left, 2 running, 1 dead.
    mark(0, 10, (k) => ({ s: 'failed', a: 1, e: `commune ${k}: 404`, t: 'HTTPError' }));
    mark(10, 15, () => ({ s: 'success', a: 2 }));
    mark(15, 18, () => ({ s: 'failed', a: 1, r: 1, e: 'reset', t: 'ConnectionError' }));
    mark(18, 20, () => ({ s: 'running', a: 1, x: NOW + 60_000 }));
    mark(20, 21, () => ({ s: 'running', a: 1, x: NOW - 3_600_000 }));
    mark(21, 2_000, () => ({ s: 'success', a: 1 }));
    await index.markMany(marks);
    const report = buildReport({
      executionId: EXECUTION,
      startMs: Date.parse('2026-11-22T14:00:00Z'),
      endMs: Date.parse('2026-11-22T14:00:02Z'),
      mode: 'tasks',
      trigger: {
        source: 'cloud-scheduler',
        kind: 'tick',
        scheduled_time: '2026-11-22T14:00:00.000Z',
        job_name: null,
        forced: false,
      },
      outcomes: [
        {
          name: 'plu',
          status: 'scheduled',
          httpStatus: null,
          error: null,
          errorType: null,
          startMs: null,
          endMs: null,
          attempts: 0,
          result: null,
          extra: { task_max_attempts: 3, shards: { total: SHARDS, pending: SHARDS } },
        },
      ],
    });

    const counting = countingStore(state);
    const merged = await withRunRecords(report, counting, NOW);
    expect(merged.collectors['plu']).toMatchObject({
      status: 'running',
      shards: {
        total: SHARDS,
        done: 2_000 - 21 + 5,
        failed: 11,
        running: 3 + 2,
        pending: SHARDS - 2_000,
        retried: 5,
      },
    });
    expect((merged.collectors['plu']!['shard_failures'] as unknown[]).length).toBe(11);
    expect(merged.summary).toMatchObject({ total: 1, running: 1 });
    // The head and the stripes, no listing, no run record.
    expect(counting.lists).toEqual([]);
    expect(counting.gets.length).toBeLessThanOrEqual(1 + SHARD_STRIPES);
    expect(counting.gets.every((key) => key.startsWith(`shards/${EXECUTION}/plu/index/`))).toBe(true);
  });
});
