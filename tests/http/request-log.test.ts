import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import { createApp } from '../../src/http/app';
import { createFunctionHandler } from '../../src/http/function-handler';
import { noteCaller, parseTrace, withRequestLog } from '../../src/http/request-log';
import { ReportStore } from '../../src/report/report-store';
import type { ObjectStore } from '../../src/store/types';
import { createLogger, type LogEntry } from '../../src/util/log';
import { fitEntry, MAX_LOG_LINE_BYTES, splitUtf8 } from '../../src/util/log-size';
import { collectorServer } from '../support/collector-servers';
import { FakeClock } from '../support/fake-clock';
import type { TestServer } from '../support/http';
import { outcome, reportAt } from '../support/reports';
import { testServices } from '../support/services';
import { tempDirs } from '../support/temp';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const dirs = tempDirs();
let ok: TestServer;
const requestLogs: LogEntry[] = [];
let serviceLogs: LogEntry[] = [];
let built: { close(): Promise<void> } | null = null;

beforeAll(async () => {
  ok = await collectorServer({ kind: 'ok', result: { records: 1 } });
  const dir = dirs.make('reqlog');
  const clock = new FakeClock('2026-11-22T14:00:00Z');
  // The function's handler as functions-framework serves it, under a name of its own so that its
  // request log goes to this test's sink.
  ff.http(
    'scheduler-logged',
    createFunctionHandler(
      async () => {
        const services = await testServices(
          `scheduler: { auth: { type: none } }\ncollectors:\n  ok: { url: "${ok.url}/run", schedule: "0 15 * * *" }\n`,
          dir,
          { clock },
        );
        serviceLogs = services.logs;
        built = services;
        return services;
      },
      createLogger(),
      {
        requestLogger: createLogger((e) => requestLogs.push(e), {}, 'DEBUG'),
        clock,
        env: { GOOGLE_CLOUD_PROJECT: 'test-project' },
      },
    ),
  );
});
afterAll(async () => {
  await built?.close();
  await ok.close();
  dirs.cleanup();
});

const server = () => request(getTestServer('scheduler-logged'));
const last = () => requestLogs[requestLogs.length - 1]!;

describe('request logs', () => {
  it('log every request once, rejections included, with method, route, status and latency', async () => {
    const cases: [() => request.Test, number, string, string][] = [
      [
        () => server().post('/run').set('content-type', 'application/json').send('{"colectors":1}'),
        400,
        'POST',
        '/run',
      ],
      [() => server().get('/nowhere/at/all'), 404, 'GET', '(no route)'],
      [() => server().get('/reports/not-an-id'), 400, 'GET', '/reports/:id'],
      [() => server().delete('/status'), 405, 'DELETE', '/status'],
      [() => server().get('/reports?limit=2'), 200, 'GET', '/reports'],
    ];
    for (const [send, status, method, route] of cases) {
      const before = requestLogs.length;
      const res = await send();
      expect(res.status).toBe(status);
      expect(requestLogs.length - before).toBe(1);
      expect(last()).toMatchObject({
        severity: status >= 500 ? 'ERROR' : status >= 400 ? 'WARNING' : 'INFO',
        message: `${method} ${route} ${status}`,
        route,
        httpRequest: { requestMethod: method, status, latency: expect.stringMatching(/^\d+\.\d{3}s$/) },
      });
    }
    // An id in the path never becomes part of the route, and a query string is not logged.
    expect(
      requestLogs.map((e) => (e['httpRequest'] as { requestUrl: string }).requestUrl),
    ).not.toContainEqual(expect.stringContaining('limit='));
  });

  it('carry the trace from traceparent or X-Cloud-Trace-Context, and so do the execution’s entries', async () => {
    const res = await server()
      .post('/run')
      .set('traceparent', `00-${TRACE}-00f067aa0ba902b7-01`)
      .send({ collectors: ['ok'] });
    expect(res.status).toBe(200);
    expect(last()).toMatchObject({
      'logging.googleapis.com/trace': `projects/test-project/traces/${TRACE}`,
      'logging.googleapis.com/spanId': '00f067aa0ba902b7',
      'logging.googleapis.com/trace_sampled': true,
    });
    const started = serviceLogs.filter((e) => e.message === 'execution started').at(-1)!;
    expect(started['logging.googleapis.com/trace']).toBe(`projects/test-project/traces/${TRACE}`);

    await server().get('/status').set('X-Cloud-Trace-Context', `${TRACE.toUpperCase()}/12345;o=0`);
    expect(last()).toMatchObject({
      'logging.googleapis.com/trace': `projects/test-project/traces/${TRACE}`,
      'logging.googleapis.com/spanId': (12345).toString(16).padStart(16, '0'),
      'logging.googleapis.com/trace_sampled': false,
    });
  });

  it.each([
    ['traceparent', `01-${TRACE}-00f067aa0ba902b7-01`],
    ['traceparent', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['traceparent', `00-${TRACE}-00f067aa0ba902b7-01<script>`],
    ['x-cloud-trace-context', 'projects/evil/traces/x'],
    ['x-cloud-trace-context', `${TRACE}/99999999999999999999999;o=1`],
  ])('ignore a malformed %s header (%s)', (name, value) => {
    expect(parseTrace({ [name]: value }, 'test-project')).toBeNull();
  });

  it('name the caller the auth layer identified, through noteCaller', async () => {
    const entries: LogEntry[] = [];
    const services = await testServices('collectors:\n  a: {}\n', dirs.make('caller'));
    try {
      const inner = createApp(async () => services);
      const app = withRequestLog(
        async (req) => {
          noteCaller(req, 'scheduler@p.iam.gserviceaccount.com');
          return inner(req);
        },
        { logger: createLogger((e) => entries.push(e)), clock: new FakeClock(), project: 'p' },
      );
      await app({ method: 'GET', path: '/healthz', headers: {}, body: undefined });
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ caller: 'scheduler@p.iam.gserviceaccount.com', route: '/healthz' });
    } finally {
      await services.close();
    }
  });
});

describe('log entries over Cloud Logging’s size limit', () => {
  it('are split into parts under the limit that join back into the whole field', () => {
    const big = { rows: Array.from({ length: 30_000 }, (_, i) => ({ i, name: `élément ${i} 😀` })) };
    const parts = fitEntry({ severity: 'ERROR', message: 'big', executionId: 'e1', report: big });
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts)
      expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    const head = parts[0]!;
    expect(head['report']).toMatchObject({ split: true, parts: parts.length - 1 });
    expect(parts.slice(1).every((p) => p['executionId'] === 'e1' && p['field'] === 'report')).toBe(true);
    const joined = parts
      .slice(1)
      .sort((a, b) => (a['part'] as number) - (b['part'] as number))
      .map((p) => p['data'] as string)
      .join('');
    expect(JSON.parse(joined)).toEqual(big);
  });

  it('never cut a character in two', () => {
    for (const piece of splitUtf8('é'.repeat(10) + '😀'.repeat(10), 7)) {
      expect(Buffer.from(piece, 'utf8').toString('utf8')).toBe(piece);
      expect(piece).not.toContain('\ufffd');
    }
    // Smaller than one character: still progress, one whole character a piece.
    expect(splitUtf8('😀😀', 2)).toEqual(['😀', '😀']);
  });

  it('a report that cannot be stored reaches the log in full, in parts that each fit', async () => {
    const entries: LogEntry[] = [];
    const failing = {
      location: 'gs://down/reports',
      put: async () => {
        throw new Error('503 Service Unavailable');
      },
    } as unknown as ObjectStore;
    const report = reportAt('2026-11-22T14:00:00Z', (t0) =>
      Array.from({ length: 400 }, (_, i) =>
        outcome(`c${i}`, 'failed', t0, 0, 1, 1, {
          error: `upstream said ${'x'.repeat(1000)}`,
          errorType: 'HTTPError',
        }),
      ),
    );
    const saved = await new ReportStore(
      failing,
      createLogger((e) => entries.push(e)),
    ).save(report);
    expect(saved.stored).toBe(false);
    expect(entries.length).toBeGreaterThan(2);
    for (const e of entries)
      expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    expect(entries[0]).toMatchObject({ reportKey: `2026/11/22/${report.execution_id}.json` });
    const joined = entries
      .slice(1)
      .map((e) => e['data'] as string)
      .join('');
    expect(JSON.parse(joined)).toEqual(report);
  });
});
