import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import '../../src/index';
import { createFunctionHandler } from '../../src/http/function-handler';
import type { Services } from '../../src/services';
import { openStore } from '../../src/store/open';
import { collectorServer } from '../support/collector-servers';
import { FakeClock } from '../support/fake-clock';
import type { TestServer } from '../support/http';
import { captureLogger, testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { until } from '../support/wait';

// The function's failure paths, through functions-framework's own server: the execution deadline,
// empty ticks, malformed percent-encoding, and a deployed instance with a local state store.

let registered = 0;
/** The function's handler over `build`, registered under a fresh target name. */
function serve(build: () => Promise<Services>): ReturnType<typeof getTestServer> {
  const name = `failures-${++registered}`;
  ff.http(name, createFunctionHandler(build, captureLogger().logger));
  return getTestServer(name);
}

describe.each(STORE_KINDS)('the function on the %s store', (kind) => {
  const storage = storeFixture(kind);
  let ok: TestServer;
  let hanging: TestServer;
  beforeAll(async () => {
    await storage.setup();
    ok = await collectorServer({ kind: 'ok', result: { records: 3 } });
    hanging = await collectorServer({ kind: 'hang' });
  });
  afterAll(async () => {
    await Promise.all([ok.close(), hanging.close()]);
    await storage.teardown();
  });
  let n = 0;
  const yaml = () => `
timezone: UTC
scheduler:
  auth: { type: none }
  deadline_seconds: 5
  report_budget_seconds: 2
collectors:
  ok: { url: "${ok.url}/run", schedule: "0 14 * * *" }
  hanging: { url: "${hanging.url}/run", schedule: "0 14 * * *", timeout_seconds: 600 }
`;

  it('answers at the deadline: the hanging collector reported Timeout, the other one as it ended', async () => {
    const clock = new FakeClock('2026-11-22T14:00:10Z');
    const services = await testServices(yaml(), storage.uri(`case-${++n}`), { clock });
    // Which collector calls have come back: the deadline comes once ok's has.
    const answered: string[] = [];
    const post = services.transport.post.bind(services.transport);
    services.transport.post = async (url, options) => {
      const response = await post(url, options);
      answered.push(url);
      return response;
    };
    try {
      const before = hanging.requests.length;
      const answer = request(serve(async () => services))
        .post('/')
        .set('X-CloudScheduler-ScheduleTime', '2026-11-22T14:00:00Z')
        .then((r) => r);
      await until(
        () => hanging.requests.length > before && answered.includes(`${ok.url}/run`),
        'ok answered, hanging called',
      );
      clock.advance(5_000);
      const res = await answer;
      expect(res.status).toBe(207);
      expect(res.body.collectors.ok).toMatchObject({ status: 'success' });
      expect(res.body.collectors.hanging).toMatchObject({
        status: 'failed',
        error_type: 'Timeout',
        error: 'execution deadline of 5 s (scheduler.deadline_seconds) reached; aborted',
      });
      expect(res.body.report_storage_error).toBeUndefined();
    } finally {
      await services.close();
    }
  });

  it('answers an empty tick 200 with an empty summary, and writes no report', async () => {
    const dir = storage.uri(`case-${++n}`);
    const services = await testServices(yaml(), dir, { clock: new FakeClock('2026-11-22T15:00:04Z') });
    try {
      const server = serve(async () => services);
      // A report to keep: latest.json must still point at it after the empty tick.
      const manual = await request(server)
        .post('/run')
        .send({ collectors: ['ok'] });
      expect(manual.status).toBe(200);

      const res = await request(server)
        .post('/')
        .set('X-CloudScheduler-ScheduleTime', '2026-11-22T15:00:00Z');
      expect(res.status).toBe(200);
      expect(res.body.summary).toEqual({
        total: 0,
        succeeded: 0,
        failed: 0,
        skipped: 0,
        scheduled: 0,
        running: 0,
      });
      expect(res.body.collectors).toEqual({});
      expect(res.body.report_storage_error).toBeUndefined();

      const reports = await openStore(`${dir}/reports`);
      const keys: string[] = [];
      // The history index (index/) holds the manual execution's line only.
      for await (const info of reports.list('')) if (!info.key.startsWith('index/')) keys.push(info.key);
      expect(keys.sort()).toEqual([`2026/11/22/${manual.body.execution_id}.json`, 'latest.json']);
      expect(JSON.parse((await reports.get('latest.json'))!.data.toString()).execution_id).toBe(
        manual.body.execution_id,
      );
      // Nor a claim: a frequent Cloud Scheduler job would leave one per minute.
      const state = await openStore(`${dir}/state`);
      for await (const info of state.list('ticks/')) throw new Error(`unexpected claim ${info.key}`);
      expect(services.logs.some((e) => /tick selected no collector/.test(e.message))).toBe(true);
    } finally {
      await services.close();
    }
  });
});

describe('malformed percent-encoding in a path', () => {
  it.each([
    ['GET', '/reports/%E0%A4%A'],
    ['GET', '/reports/%zz'],
    ['POST', '/collectors/%'],
    ['GET', '/%E0%A4%A'],
  ])('%s %s answers a JSON 400, not an HTML page', async (method, url) => {
    const server = getTestServer('scheduler');
    const res = method === 'GET' ? await request(server).get(url) : await request(server).post(url);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      error: {
        code: 'REQUEST_INVALID',
        message: 'the request path has malformed percent-encoding; encode reserved characters as %XX',
      },
    });
  });
});

describe('a deployed instance (K_SERVICE) with a local state store', () => {
  const dirs = tempDirs();
  const saved = { config: process.env['SCHEDULER_CONFIG'], service: process.env['K_SERVICE'] };
  afterAll(() => {
    dirs.cleanup();
    for (const [name, value] of [
      ['SCHEDULER_CONFIG', saved.config],
      ['K_SERVICE', saved.service],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('refuses to start, and its log says why (callers of a deployed function only learn that it failed)', async () => {
    const dir = dirs.make('kservice');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, `storage:\n  reports: ${dir}/reports\ncollectors:\n  dvf: {}\n`);
    process.env['SCHEDULER_CONFIG'] = file;
    process.env['K_SERVICE'] = 'scheduler';
    const { logger, entries } = captureLogger();
    const name = 'failures-kservice';
    ff.http(name, createFunctionHandler(undefined, logger));
    const res = await request(getTestServer(name)).post('/run');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error.code).toBe('INTERNAL');
    expect(entries.map((e) => [e.severity, e.code, e.message])).toEqual([
      [
        'ERROR',
        'CONFIG_INVALID',
        expect.stringMatching(
          /config\.yaml:1 storage: the state store is .*\/state, a local path, but this is a deployed instance \(K_SERVICE=scheduler\): each instance has its own disk/,
        ),
      ],
    ]);
  });
});
