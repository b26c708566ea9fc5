import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import { createApp } from '../../src/http/app';
import { DEFAULT_LEASE_TTL_MS, LEASE_CLOCK_SKEW_MS } from '../../src/lease/lease';
import { CollectorRegistry } from '../../src/runtime/registry';
import { readRunRecord } from '../../src/runtime/run-records';
import { openStore } from '../../src/store/open';
import { failingWrites, type FailingWrites } from '../support/failing-store';
import { FakeClock } from '../support/fake-clock';
import { testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { testCollector } from '../support/test-collectors';
import { until } from '../support/wait';

const manual = makeTrigger('cli');

/**
 * A group member whose lease cannot be renewed (the state store refuses this instance's lease writes)
 * is stopped before the lease expires, so it never runs beside the member that takes the lease next.
 */
describe.each(STORE_KINDS)('a lost group lease on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;

  async function setup() {
    const base = storage.uri(`case-${++n}`);
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    let state: FailingWrites | null = null;
    const runs = { started: 0, stopped: [] as unknown[] };
    const registry = new CollectorRegistry([
      testCollector('xmp', async (ctx) => {
        runs.started++;
        // Works until told to stop.
        await new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            runs.stopped.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          }),
        );
        return { records: 0 };
      }),
    ]);
    const services = await testServices(
      `storage: { reports: ${base}/reports, raw: ${base}/raw, state: ${base}/state }
scheduler: { deadline_seconds: 600 }
collectors:
  xmp: { group: xmp-account, timeout_seconds: 300 }
`,
      '',
      {
        clock,
        registry,
        openStore: async (uri) => {
          const store = await openStore(uri);
          if (!uri.endsWith('/state')) return store;
          state = failingWrites(store);
          return state.store;
        },
      },
    );
    return { services, clock, runs, state: state! };
  }

  it('HTTP mode: the scheduler aborts the call and the collector route stops the run, both as lease_lost', async () => {
    const { services, clock, runs, state } = await setup();
    try {
      const pending = execute(services, manual);
      await until(() => runs.started === 1, 'the collector run started');
      state.failing = /^leases\//;
      // Renewals every 20 s fail; the lease is given up 5 s before the expiry last written.
      clock.advance(DEFAULT_LEASE_TTL_MS - LEASE_CLOCK_SKEW_MS);
      const { report } = await pending;

      expect(report.collectors['xmp']).toMatchObject({
        status: 'failed',
        error_type: 'LeaseLost',
        reason: 'lease_lost',
      });
      expect(report.collectors['xmp']!.error).toMatch(
        /^lease group-xmp-account lost: it could not be renewed before it expired at 2026-11-22T14:01:00\.000Z; stopped/,
      );
      expect(report.duration_seconds).toBe((DEFAULT_LEASE_TTL_MS - LEASE_CLOCK_SKEW_MS) / 1000);
      // The run itself stopped too (it ran on the embedded collector route, under the scheduler's lease).
      await until(() => runs.stopped.length === 1, 'the run stopped');
      await until(
        async () =>
          (await readRunRecord(services.stores.state, report.execution_id, 'xmp'))?.status === 'failed',
        'the run record',
      );
      expect(await readRunRecord(services.stores.state, report.execution_id, 'xmp')).toMatchObject({
        status: 'failed',
        errorType: 'LeaseLost',
        reason: 'lease_lost',
        retryable: true,
      });
    } finally {
      await services.close();
    }
  });

  it('Cloud Tasks mode: the route that took the lease stops the run and answers 503 for a later delivery', async () => {
    const { services, clock, runs, state } = await setup();
    try {
      const app = createApp(async () => services);
      const pending = app({
        method: 'POST',
        path: '/collectors/xmp',
        headers: { 'x-cloudtasks-taskname': 'xmp-20261122t1400' },
        body: Buffer.from(
          JSON.stringify({
            executionId: '20261122T140000Z-aaaaaaaa',
            collector: 'xmp',
            scheduledTime: '2026-11-22T14:00:00.000Z',
            attempt: 1,
          }),
        ),
      });
      await until(() => runs.started === 1, 'the collector run started');
      state.failing = /^leases\//;
      clock.advance(DEFAULT_LEASE_TTL_MS - LEASE_CLOCK_SKEW_MS);
      const answer = await pending;

      expect(answer.status).toBe(503);
      expect((answer.body as { run: unknown }).run).toMatchObject({
        status: 'failed',
        errorType: 'LeaseLost',
        reason: 'lease_lost',
        retryable: true,
      });
      expect(runs.stopped).toHaveLength(1);
    } finally {
      await services.close();
    }
  });
});
