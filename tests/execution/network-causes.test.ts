import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import { FakeClock } from '../support/fake-clock';
import { refusedUrl, UNRESOLVABLE_HOST } from '../support/network-failures';
import { testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';

const manual = makeTrigger('cli');

/** The real fetch, counting the upstream calls a collector makes. */
function countingFetch(calls: string[]): typeof fetch {
  return (input, init) => {
    calls.push(String(input));
    return globalThis.fetch(input, init);
  };
}

describe.each(STORE_KINDS)('upstream network failures in an execution on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;

  async function run(baseUrl: string) {
    const calls: string[] = [];
    const services = await testServices(
      `collectors:\n  insee-contours: { options: { departements: ['75'], base_url: "${baseUrl}" } }\n`,
      storage.uri(`case-${++n}`),
      { clock: new FakeClock(), random: () => 0.5, fetch: countingFetch(calls) },
    );
    try {
      const { report } = await execute(services, manual);
      return { entry: report.collectors['insee-contours']!, calls };
    } finally {
      await services.close();
    }
  }

  it('a host that does not resolve is named so and tried once (it was a reset, tried 12 times)', async () => {
    const { entry, calls } = await run(`http://${UNRESOLVABLE_HOST}`);
    expect(entry).toMatchObject({ status: 'failed', error_type: 'NameResolutionError', attempts: 1 });
    expect(entry.error).toBe(
      `could not resolve host ${UNRESOLVABLE_HOST} (ENOTFOUND): GET http://${UNRESOLVABLE_HOST}/communes?…`,
    );
    // The communes request (the API's /infos version check before it is optional and not counted).
    expect(calls.filter((c) => c.includes('/communes?'))).toHaveLength(1);
  });

  it('a refused connection is named so and retried, by the collector and by the dispatcher', async () => {
    const { entry, calls } = await run(await refusedUrl());
    expect(entry).toMatchObject({
      status: 'failed',
      http_status: 503,
      error_type: 'ConnectionRefusedError',
      attempts: 3,
    });
    expect(entry.error).toMatch(
      /^POST http:\/\/127\.0\.0\.1:\d+\/collectors\/insee-contours answered 503: connection refused \(ECONNREFUSED\): GET http:\/\/127\.0\.0\.1:\d+\/communes\?…$/,
    );
    // 4 upstream attempts (UPSTREAM_RETRY) in each of the 3 dispatch attempts (scheduler.retry).
    expect(calls.filter((c) => c.includes('/communes?'))).toHaveLength(12);
  });
});
