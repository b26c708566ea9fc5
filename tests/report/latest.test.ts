import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import { createApp } from '../../src/http/app';
import { LATEST_KEY } from '../../src/report/report-store';
import { CollectorRegistry } from '../../src/runtime/registry';
import { readJson } from '../../src/store/types';
import { FakeClock } from '../support/fake-clock';
import { testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { writesOne } from '../support/test-collectors';

const manual = makeTrigger('cli');

describe.each(STORE_KINDS)('latest.json on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;

  const setup = () =>
    testServices('collectors:\n  alpha: {}\n', storage.uri(`case-${++n}`), {
      registry: new CollectorRegistry([writesOne('alpha')]),
      clock: new FakeClock(),
    });

  it.each([
    ['truncated', '{"schema_version": 2, "execution_id": "2026'],
    ['not a report', '["hand", "edited"]'],
  ])('%s, is replaced by the next execution, and the log says so', async (_label, corrupt) => {
    const services = await setup();
    try {
      await services.stores.reports.put(LATEST_KEY, corrupt);
      const { report } = await execute(services, manual);

      const latest = await readJson<{ execution_id: string }>(services.stores.reports, LATEST_KEY);
      expect(latest?.value.execution_id).toBe(report.execution_id);
      const warning = services.logs.find((e) => /latest\.json was not a readable report/.test(e.message));
      expect(warning?.message).toBe(
        `${services.stores.reports.location}/latest.json was not a readable report (${corrupt.length} bytes); replaced`,
      );
      // And the function's /status reads it again.
      const status = await createApp(async () => services)({
        method: 'GET',
        path: '/status',
        headers: {},
        body: undefined,
      });
      expect(status.status).toBe(200);
      expect((status.body as { execution_id: string }).execution_id).toBe(report.execution_id);
    } finally {
      await services.close();
    }
  });

  it('a readable one from a later execution is kept', async () => {
    const services = await setup();
    try {
      const later = JSON.stringify({ execution_id: 'later', start_time: '2099-01-01T00:00:00.000Z' });
      await services.stores.reports.put(LATEST_KEY, later);
      await execute(services, manual);
      expect((await services.stores.reports.get(LATEST_KEY))?.data.toString()).toBe(later);
      expect(services.logs.some((e) => /latest\.json/.test(e.message))).toBe(false);
    } finally {
      await services.close();
    }
  });
});
