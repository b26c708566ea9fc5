import { createApp } from '../../src/http/app';
import { CollectorRegistry } from '../../src/runtime/registry';
import { openGcsStore } from '../../src/store/gcs-store';
import { parseLocation } from '../../src/store/location';
import { openStore } from '../../src/store/open';
import { FakeClock } from '../support/fake-clock';
import { startGcsServer, type GcsServer } from '../support/gcs-server';
import { testServices } from '../support/services';
import { writesOne } from '../support/test-collectors';

describe('execution reports on Cloud Storage', () => {
  let gcs: GcsServer;
  beforeAll(async () => {
    gcs = await startGcsServer();
    gcs.createBucket('reports-bucket');
  });
  afterAll(() => gcs.close());

  async function services(clock: FakeClock) {
    // The real Cloud Storage store on the loopback server, with its retries on the fake clock.
    const open = async (uri: string) => {
      const location = parseLocation(uri);
      return location.kind === 'gcs'
        ? openGcsStore(location, { apiEndpoint: gcs.url, clock, retry: { budgetMs: 20_000 } })
        : openStore(uri);
    };
    return testServices(
      'storage: { reports: gs://reports-bucket/reports, raw: gs://reports-bucket/raw, state: gs://reports-bucket/state }\ncollectors:\n  alpha: {}\n',
      '',
      { registry: new CollectorRegistry([writesOne('alpha')]), clock, openStore: open },
    );
  }

  it('are written to the bucket and read back by GET /status and GET /reports/ID', async () => {
    const s = await services(new FakeClock());
    try {
      const app = createApp(async () => s);
      const run = await app({ method: 'POST', path: '/run', headers: {}, body: undefined });
      expect(run.status).toBe(200);
      const report = run.body as { execution_id: string };
      expect(gcs.object('reports-bucket', `reports/2026/11/22/${report.execution_id}.json`)).toBeDefined();
      expect(gcs.object('reports-bucket', 'reports/latest.json')).toBeDefined();
      const status = await app({ method: 'GET', path: '/status', headers: {}, body: undefined });
      expect((status.body as { execution_id: string }).execution_id).toBe(report.execution_id);
      const byId = await app({
        method: 'GET',
        path: `/reports/${report.execution_id}`,
        headers: {},
        body: undefined,
      });
      expect(byId.body).toMatchObject({ execution_id: report.execution_id, summary: { succeeded: 1 } });
    } finally {
      await s.close();
    }
  });

  it('still reaches the caller, and the log in full, when Cloud Storage keeps failing', async () => {
    const clock = new FakeClock();
    const s = await services(clock);
    try {
      gcs.failNext(1000, { status: 503 }, { object: /^reports\// });
      const app = createApp(async () => s);
      const run = await app({ method: 'POST', path: '/run', headers: {}, body: undefined });
      gcs.clearFaults();
      expect(run.status).toBe(200);
      const body = run.body as {
        execution_id: string;
        collectors: Record<string, { status: string }>;
        report_storage_error: string;
      };
      expect(body.collectors['alpha']!.status).toBe('success');
      expect(body.report_storage_error).toMatch(
        /execution report could not be stored at gs:\/\/reports-bucket\/reports\/2026\/11\/22\/.*failed after \d+ attempts/,
      );
      const logged = s.logs.filter((e) => e.severity === 'ERROR' && e['report']);
      expect(logged).toHaveLength(1);
      expect((logged[0]!['report'] as { execution_id: string }).execution_id).toBe(body.execution_id);
      expect(gcs.object('reports-bucket', `reports/2026/11/22/${body.execution_id}.json`)).toBeUndefined();
    } finally {
      await s.close();
    }
  });
});
