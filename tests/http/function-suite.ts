import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import { collectorServer } from '../support/collector-servers';
import type { TestServer } from '../support/http';
import { tempDirs } from '../support/temp';

import type { StoreKind } from '../support/stores';
import { storeFixture } from '../support/stores';

/**
 * The function's tests, run once per store by function-fs.test.ts and function-gcs.test.ts (each test
 * file gets its own module registry, so the function module and its cached services are per store).
 */
export function functionSuite(kind: StoreKind): void {
  const storage = storeFixture(kind);
  const dirs = tempDirs();
  const servers: TestServer[] = [];
  const dir = dirs.make('fn');
  const configFile = path.join(dir, 'config.yaml');

  let ok: TestServer;
  let failing: TestServer;
  let throttled: TestServer;
  let hanging: TestServer;
  let limited: TestServer;

  beforeAll(async () => {
    await storage.setup();
    process.env['SCHEDULER_CONFIG'] = configFile;
    // The real function module, as functions-framework loads it: config from $SCHEDULER_CONFIG, read on
    // the first request that needs it.
    require('../../src/index');
    ok = await collectorServer({ kind: 'ok', result: { records: 5 } });
    failing = await collectorServer({ kind: 'status', status: 500 });
    throttled = await collectorServer(
      { kind: 'status', status: 429, headers: { 'retry-after': '0' } },
      { kind: 'ok' },
    );
    hanging = await collectorServer({ kind: 'hang' });
    limited = await collectorServer({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });
    servers.push(ok, failing, throttled, hanging, limited);
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    dirs.cleanup();
    await storage.teardown();
    delete process.env['SCHEDULER_CONFIG'];
  });

  function writeConfig(): void {
    writeFileSync(
      configFile,
      `
timezone: Europe/Paris
storage: { reports: ${storage.uri('reports')}, raw: ${storage.uri('raw')}, state: ${storage.uri('state')} }
scheduler:
  auth: { type: none }
  retry: { attempts: 3, min_backoff_seconds: 0, max_backoff_seconds: 0 }
collectors:
  ok: { url: "${ok.url}/run?key=abc", schedule: "0 14 * * *" }
  failing: { url: "${failing.url}/run", schedule: "0 2 * * *" }
  throttled: { url: "${throttled.url}/run", schedule: "0 14 * * *" }
  hanging: { url: "${hanging.url}/run", enabled: false, timeout_seconds: 0.2 }
  limited: { url: "${limited.url}/run", enabled: false }
  insee-contours: { url: "${ok.url}/insee", schedule: "0 3 1 1 *" }
`,
    );
  }

  const server = () => getTestServer('scheduler');

  describe(`the Cloud Function (functions-framework target "scheduler") on the ${kind} store`, () => {
    it('answers /healthz before any config is loaded, and a JSON error on routes that need the missing config', async () => {
      const health = await request(server()).get('/healthz');
      expect(health.status).toBe(200);
      expect(health.body).toEqual({ status: 'ok' });

      const run = await request(server()).post('/run');
      expect(run.status).toBe(500);
      expect(run.body.error.code).toBe('CONFIG_NOT_FOUND');
      expect(run.body.error.message).toContain('config.yaml does not exist');
    });

    it('runs every enabled collector on a plain POST / (Cloud Scheduler without a tick) and answers 207', async () => {
      writeConfig();
      const res = await request(server()).post('/');
      expect(res.status).toBe(207);
      expect(res.body.summary).toEqual({
        total: 4,
        succeeded: 3,
        failed: 1,
        skipped: 0,
        scheduled: 0,
        running: 0,
      });
      expect(res.body.collectors.ok).toMatchObject({
        status: 'success',
        http_status: 200,
        attempts: 1,
        result: { records: 5 },
      });
      expect(res.body.collectors.failing).toMatchObject({
        status: 'failed',
        http_status: 500,
        attempts: 3,
        error_type: 'HTTPError',
      });
      expect(res.body.collectors.throttled).toMatchObject({ status: 'success', attempts: 2 });
      // A URL's query string (which may hold a key) never reaches a report.
      expect(ok.requests.find((r) => r.path.startsWith('/run'))!.path).toBe('/run?key=abc');
    });

    it('runs only the collectors due at the tick of X-CloudScheduler-ScheduleTime', async () => {
      const before = failing.requests.length;
      const res = await request(server())
        .post('/')
        .set('X-CloudScheduler', 'true')
        .set('X-CloudScheduler-ScheduleTime', '2026-11-22T13:00:00Z')
        .set('X-CloudScheduler-JobName', 'projects/p/locations/europe-west1/jobs/master');
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.collectors)).toEqual(['ok', 'throttled']);
      expect(res.body.trigger).toEqual({
        source: 'cloud-scheduler',
        kind: 'tick',
        scheduled_time: '2026-11-22T13:00:00.000Z',
        job_name: 'projects/p/locations/europe-west1/jobs/master',
        forced: false,
      });
      expect(failing.requests.length).toBe(before);
    });

    it('runs an explicit list, including a disabled collector, and records its timeout', async () => {
      const res = await request(server())
        .post('/run')
        .send({ collectors: ['hanging'] });
      expect(res.status).toBe(500);
      expect(res.body.collectors.hanging).toMatchObject({
        status: 'failed',
        error_type: 'Timeout',
        attempts: 1,
      });
      expect(res.body.collectors.hanging.error).toMatch(/no answer within timeout_seconds \(0\.2 s\)/);
    });

    it('does not wait for a Retry-After longer than retry.max_backoff_seconds: fails at once with the 429', async () => {
      const res = await request(server())
        .post('/run')
        .send({ collectors: ['limited', 'ok'] });
      expect(res.status).toBe(207);
      expect(res.body.collectors.limited).toMatchObject({
        status: 'failed',
        http_status: 429,
        error_type: 'HTTPError',
        attempts: 1,
        retry_after_seconds: 3600,
      });
      expect(res.body.collectors.limited.error).toMatch(/asked to retry after 3600 s \(Retry-After\)/);
      expect(res.body.collectors.ok).toMatchObject({ status: 'success' });
    });

    it.each([
      [
        'an unknown collector',
        { collectors: ['nope'] },
        'application/json',
        'COLLECTOR_UNKNOWN',
        /unknown collector "nope"/,
      ],
      [
        'an unknown field',
        { colectors: ['ok'] },
        'application/json',
        'REQUEST_INVALID',
        /colectors: unknown field; did you mean "collectors"\?/,
      ],
      [
        'malformed JSON',
        '{"collectors": [ok]',
        'application/json',
        'REQUEST_INVALID',
        /request body is not JSON/,
      ],
      ['a text body', 'run everything please', 'text/plain', 'REQUEST_INVALID', /request body is not JSON/],
    ])(
      'answers 400 with a JSON error for %s, and dispatches nothing',
      async (_label, body, type, code, message) => {
        const before = ok.requests.length;
        const res = await request(server())
          .post('/run')
          .set('content-type', type)
          .send(typeof body === 'string' ? body : JSON.stringify(body));
        expect(res.status).toBe(400);
        expect(res.headers['content-type']).toMatch(/application\/json/);
        expect(res.body.error.code).toBe(code);
        expect(res.body.error.message).toMatch(message);
        expect(ok.requests.length).toBe(before);
      },
    );

    it('dry run answers the plan, without query values in URLs, and sends nothing', async () => {
      const before = ok.requests.length;
      const res = await request(server())
        .post('/run')
        .send({ dryRun: true, collectors: ['ok'] });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        dry_run: true,
        mode: 'http',
        collectors: { ok: { url: `${ok.url}/run?…` } },
      });
      expect(JSON.stringify(res.body)).not.toContain('key=abc');
      expect(ok.requests.length).toBe(before);
    });

    it('serves the latest report at /status and each report at /reports/ID', async () => {
      const run = await request(server())
        .post('/run')
        .send({ collectors: ['ok'] });
      expect(run.status).toBe(200);
      const status = await request(server()).get('/status');
      expect(status.status).toBe(200);
      expect(status.body.execution_id).toBe(run.body.execution_id);
      const one = await request(server()).get(`/reports/${run.body.execution_id}`);
      expect(one.body).toEqual(run.body);
      expect((await request(server()).get('/reports/20200101T000000Z-deadbeef')).status).toBe(404);
      const bad = await request(server()).get('/reports/..%2Fconfig');
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('REQUEST_INVALID');
    });

    it('answers 404 and 405 as JSON', async () => {
      const missing = await request(server()).get('/nowhere');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('NOT_FOUND');
      const wrong = await request(server()).get('/run');
      expect(wrong.status).toBe(405);
      expect(wrong.headers['allow']).toBe('POST');
    });

    it('serves collector routes: a malformed payload is a 400 naming the fields, an unknown or disabled collector a 404', async () => {
      const bad = await request(server())
        .post('/collectors/insee-contours')
        .send({ collector: 'insee-contours', scheduledTime: 'soon', attempt: 0 });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toMatch(/executionId: is required/);
      expect(bad.body.error.message).toMatch(/scheduledTime: must be an ISO 8601 time/);
      expect(bad.body.error.message).toMatch(/attempt: must be at least 1/);
      const unknown = await request(server()).post('/collectors/nope').send({});
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('COLLECTOR_UNKNOWN');
      // Built in, but not in the config: it does not run.
      const builtin = await request(server()).post('/collectors/dvf').send({});
      expect(builtin.status).toBe(404);
      expect(builtin.body.error.code).toBe('COLLECTOR_UNKNOWN');
    });
  });
}
