import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import { collectorServer } from '../support/collector-servers';
import { FakeClock } from '../support/fake-clock';
import type { TestServer } from '../support/http';
import { testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';

const manual = makeTrigger('cli');

describe.each(STORE_KINDS)('retry waits in an execution on the %s store', (kind) => {
  const storage = storeFixture(kind);
  const servers: TestServer[] = [];
  beforeAll(() => storage.setup());
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await storage.teardown();
  });
  let n = 0;

  it('a 429 asking for an hour at concurrency 1 fails at once with its status, and the healthy collector runs', async () => {
    const limited = await collectorServer({
      kind: 'status',
      status: 429,
      headers: { 'retry-after': '3600' },
    });
    const healthy = await collectorServer({ kind: 'ok', result: { records: 4 } });
    servers.push(limited, healthy);
    const clock = new FakeClock();
    const services = await testServices(
      `scheduler:
  auth: { type: none }
  max_concurrent_collectors: 1
  deadline_seconds: 120
  retry: { attempts: 3, min_backoff_seconds: 1, max_backoff_seconds: 30 }
collectors:
  limited: { url: "${limited.url}/run" }
  healthy: { url: "${healthy.url}/run" }
`,
      storage.uri(`case-${++n}`),
      { clock, random: () => 0.5 },
    );
    try {
      const { report, httpStatus } = await execute(services, manual);
      expect(httpStatus).toBe(207);
      // Before: the limited collector slept in its slot until the deadline, and both ended Timeout.
      expect(report.collectors['limited']).toMatchObject({
        status: 'failed',
        http_status: 429,
        error_type: 'HTTPError',
        attempts: 1,
        retry_after_seconds: 3600,
      });
      expect(report.collectors['limited']!.error).toMatch(
        /asked to retry after 3600 s \(Retry-After\), longer than retry\.max_backoff_seconds \(30 s\); not retried$/,
      );
      expect(report.collectors['healthy']).toMatchObject({
        status: 'success',
        attempts: 1,
        result: { records: 4 },
      });
      expect(clock.sleeps).toEqual([]);
      expect(report.duration_seconds).toBe(0);
    } finally {
      await services.close();
    }
  });
});
