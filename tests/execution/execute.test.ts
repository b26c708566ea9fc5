import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import { reportKey } from '../../src/report/report-store';
import { CollectorRegistry } from '../../src/runtime/registry';
import { PermanentError, SkipRun } from '../../src/runtime/errors';
import type { ObjectStore } from '../../src/store/types';
import { readJson } from '../../src/store/types';
import { openStore } from '../../src/store/open';
import { registerSecret } from '../../src/util/secrets';
import { FakeClock } from '../support/fake-clock';
import { testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { testCollector, writesOne } from '../support/test-collectors';

const manual = makeTrigger('cli');

const registry = () =>
  new CollectorRegistry([
    writesOne('alpha', 2),
    testCollector('beta', async () => {
      throw new PermanentError('options.departements.0: is not a département code');
    }),
    testCollector('gamma', async () => {
      throw new SkipRun('missing_credentials', 'SIRENE_API_KEY is not set');
    }),
    writesOne('delta'),
  ]);

const yaml = `
timezone: Europe/Paris
collectors:
  alpha: { schedule: "0 14 * * *" }
  beta: { schedule: "0 14 * * *" }
  gamma: { schedule: "0 2 * * *" }
  delta: { enabled: false }
`;

describe.each(STORE_KINDS)(
  'an execution on the %s store, end to end over the embedded loopback collectors',
  (kind) => {
    const storage = storeFixture(kind);
    beforeAll(() => storage.setup());
    afterAll(() => storage.teardown());
    let n = 0;
    const dirs = { make: () => storage.uri(`case-${++n}`) };

    it('dispatches every enabled collector, writes the report and run records, and keeps the original keys', async () => {
      const dir = dirs.make();
      const clock = new FakeClock('2026-11-22T13:00:05Z');
      const services = await testServices(yaml, dir, { registry: registry(), clock });
      try {
        const { report, httpStatus, saved } = await execute(services, manual);
        expect(httpStatus).toBe(207);
        expect(Object.keys(report.collectors)).toEqual(['alpha', 'beta', 'gamma']);
        // The original design's keys and values.
        expect(report).toMatchObject({
          start_time: '2026-11-22T13:00:05.000Z',
          end_time: expect.any(String),
          duration_seconds: expect.any(Number),
        });
        expect(report.summary).toEqual({
          total: 3,
          succeeded: 1,
          failed: 1,
          skipped: 1,
          scheduled: 0,
          running: 0,
        });
        for (const c of Object.values(report.collectors)) {
          expect(Object.keys(c)).toEqual(
            expect.arrayContaining([
              'status',
              'http_status',
              'error',
              'error_type',
              'start_time',
              'end_time',
              'duration_seconds',
              'result',
              'attempts',
            ]),
          );
        }
        expect(report.collectors['alpha']).toMatchObject({
          status: 'success',
          http_status: 200,
          attempts: 1,
          result: { records: 2, summary: { wrote: 1 } },
        });
        expect(report.collectors['alpha']!.manifest).toMatchObject({ totals: { objects: 1, records: 2 } });
        // A permanent failure: answered 200 with a failed run record, so not retried.
        expect(report.collectors['beta']).toMatchObject({
          status: 'failed',
          http_status: 200,
          attempts: 1,
          error: 'options.departements.0: is not a département code',
        });
        expect(report.collectors['gamma']).toMatchObject({
          status: 'skipped',
          reason: 'missing_credentials',
        });
        // What it adds.
        expect(report).toMatchObject({
          schema_version: 2,
          mode: 'http',
          trigger: {
            source: 'cli',
            kind: 'manual',
            scheduled_time: '2026-11-22T13:00:05.000Z',
            job_name: null,
            forced: false,
          },
        });
        expect(report.execution_id).toMatch(/^20261122T130005Z-[0-9a-f]{8}$/);

        expect(saved).toMatchObject({ stored: true, error: null });
        const reports = await openStore(`${dir}/reports`);
        expect((await readJson(reports, reportKey(report.execution_id)))!.value).toEqual(report);
        expect(reportKey(report.execution_id)).toBe(`2026/11/22/${report.execution_id}.json`);
        expect((await readJson(reports, 'latest.json'))!.value).toEqual(report);

        const state = await openStore(`${dir}/state`);
        const runs: string[] = [];
        for await (const o of state.list(`runs/${report.execution_id}/`)) runs.push(o.key);
        expect(runs).toEqual([
          `runs/${report.execution_id}/alpha.json`,
          `runs/${report.execution_id}/beta.json`,
          `runs/${report.execution_id}/gamma.json`,
        ]);

        const raw = await openStore(`${dir}/raw`);
        expect((await raw.get('alpha/2026-11-22/data.json'))!.data.toString()).toBe('{"from":"alpha"}');
      } finally {
        await services.close();
      }
    });

    it('a tick runs only the collectors due then', async () => {
      const dir = dirs.make();
      const services = await testServices(yaml, dir, {
        registry: registry(),
        clock: new FakeClock('2026-11-22T13:00:20Z'),
      });
      try {
        const { report, httpStatus } = await execute(services, {
          ...manual,
          source: 'cloud-scheduler',
          tickMs: Date.parse('2026-11-22T13:00:00Z'),
        });
        expect(Object.keys(report.collectors)).toEqual(['alpha', 'beta']);
        expect(report.trigger).toMatchObject({
          source: 'cloud-scheduler',
          kind: 'tick',
          scheduled_time: '2026-11-22T13:00:00.000Z',
        });
        expect(httpStatus).toBe(207);
      } finally {
        await services.close();
      }
    });

    it('answers 200 when all succeed, 500 when none does', async () => {
      const dir = dirs.make();
      const services = await testServices(yaml, dir, { registry: registry() });
      try {
        expect((await execute(services, { ...manual, collectors: ['alpha', 'delta'] })).httpStatus).toBe(200);
        expect((await execute(services, { ...manual, collectors: ['beta'] })).httpStatus).toBe(500);
        expect((await execute(services, { ...manual, collectors: ['gamma'] })).httpStatus).toBe(200);
      } finally {
        await services.close();
      }
    });

    it('never loses a report: when the store fails, the whole report is logged as one entry and still returned', async () => {
      const dir = dirs.make();
      const broken: ObjectStore = {
        location: 'gs://unreachable/reports',
        get: async () => null,
        put: async () => {
          throw new Error('503 Service Unavailable after 5 attempts');
        },
        putStream: async () => {
          throw new Error('503');
        },
        list: async function* () {},
        delete: async () => false,
        scope() {
          return this;
        },
      };
      const services = await testServices(yaml, dir, {
        registry: registry(),
        openStore: async (uri) => (uri.endsWith('/reports') ? broken : openStore(uri)),
      });
      try {
        const { report, saved } = await execute(services, { ...manual, collectors: ['alpha'] });
        expect(saved).toMatchObject({ stored: false, location: null });
        expect(saved.error).toMatch(
          /execution report could not be stored at gs:\/\/unreachable\/reports\/2026\/\d\d\/\d\d\/.*: 503 Service Unavailable/,
        );
        const logged = services.logs.filter((e) => e.severity === 'ERROR' && e['report']);
        expect(logged).toHaveLength(1);
        expect(logged[0]!['report']).toEqual(report);
        expect(report.collectors['alpha']!.status).toBe('success');
      } finally {
        await services.close();
      }
    });

    it('keeps secrets out of the report even when a collector leaks one', async () => {
      const dir = dirs.make();
      registerSecret('s3cr3t-api-key-value');
      const leaky = new CollectorRegistry([
        testCollector('leaky', async () => {
          throw new Error('upstream said: bad key s3cr3t-api-key-value');
        }),
        testCollector('chatty', async () => ({
          records: 0,
          summary: { token: 'abc', note: 'used s3cr3t-api-key-value' },
        })),
      ]);
      const services = await testServices('collectors:\n  leaky: {}\n  chatty: {}\n', dir, {
        registry: leaky,
        clock: new FakeClock(),
      });
      try {
        const { report } = await execute(services, manual);
        const text = JSON.stringify(report);
        expect(text).not.toContain('s3cr3t-api-key-value');
        expect(report.collectors['leaky']!.error).toContain('[redacted]');
        expect(report.collectors['chatty']!.result).toMatchObject({
          summary: { token: '[redacted]', note: 'used [redacted]' },
        });
        const stored = (await (await openStore(`${dir}/reports`)).get('latest.json'))!.data.toString();
        expect(stored).not.toContain('s3cr3t-api-key-value');
        expect(JSON.stringify(services.logs)).not.toContain('s3cr3t-api-key-value');
      } finally {
        await services.close();
      }
    });

    it('latest.json never goes back to an older execution', async () => {
      const dir = dirs.make();
      const now = await testServices(yaml, dir, {
        registry: registry(),
        clock: new FakeClock('2026-11-22T13:00:00Z'),
      });
      const anHourAgo = await testServices(yaml, dir, {
        registry: registry(),
        clock: new FakeClock('2026-11-22T12:00:00Z'),
      });
      try {
        const later = await execute(now, { ...manual, collectors: ['alpha'] });
        const earlier = await execute(anHourAgo, { ...manual, collectors: ['alpha'] });
        expect(earlier.saved.stored).toBe(true);
        const latest = await readJson<{ execution_id: string }>(
          await openStore(`${dir}/reports`),
          'latest.json',
        );
        expect(latest!.value.execution_id).toBe(later.report.execution_id);
      } finally {
        await now.close();
        await anHourAgo.close();
      }
    });
  },
);
