/**
 * The loopback Cloud Tasks server, driven by the real @google-cloud/tasks client over gRPC, dispatching to
 * loopback HTTP targets. Exact timings come from a FakeClock; one suite uses real time scaled down.
 */
import { CloudTasksClient } from '@google-cloud/tasks';
import type { ServerResponse } from 'node:http';
import { FakeClock } from '../support/fake-clock';
import { until } from '../support/wait';
import { startServer, type Handler, type TestServer } from '../support/http';
import { decodeIdToken } from '../support/id-tokens';
import {
  cloudTasksBackoffMs,
  startTasksServer,
  tasksClientOptions,
  type TasksServer,
  type TasksServerOptions,
} from '../support/tasks-server';

type CreateTaskRequest = Parameters<CloudTasksClient['createTask']>[0];
type TaskInput = NonNullable<NonNullable<CreateTaskRequest>['task']>;

const START = '2026-11-22T14:00:00Z';
const SA = 'scheduler@test-project.iam.gserviceaccount.com';
const QUEUE_NOT_FOUND =
  'Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize.';
const TASK_GONE =
  'The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted.';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  options: TasksServerOptions = {},
): Promise<{ server: TasksServer; client: CloudTasksClient }> {
  const server = await startTasksServer(options);
  const client = new CloudTasksClient(tasksClientOptions(server));
  cleanups.push(
    () => server.close(),
    () => client.close(),
  );
  return { server, client };
}

async function target(handler: Handler): Promise<TestServer> {
  const server = await startServer(handler);
  cleanups.push(() => server.close());
  return server;
}

const ok: Handler = (_req, res) => void res.writeHead(200).end('ok');
/** Answers the i-th request with statuses[i] (the last one after that). */
const statuses =
  (...codes: number[]): Handler =>
  (_req, res, _body, index) =>
    void res.writeHead(codes[Math.min(index, codes.length - 1)]!).end();
const seconds = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
const diffs = (xs: number[]) => xs.slice(1).map((x, i) => x - xs[i]!);

describe('dispatch', () => {
  test('a created task is sent to its URL with its method, body, headers, OIDC token and Cloud Tasks headers', async () => {
    const { server, client } = await setup({ queues: { collectors: {} } });
    const worker = await target(ok);
    const parent = server.queuePath('collectors');
    const name = `${parent}/tasks/dvf-1795363200`;

    const [created] = await client.createTask({
      parent,
      task: {
        name,
        httpRequest: {
          url: `${worker.url}/collectors/dvf`,
          httpMethod: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Execution-Id': 'exec-1' },
          body: Buffer.from(JSON.stringify({ collector: 'dvf', attempt: 1 })),
          oidcToken: { serviceAccountEmail: SA, audience: 'https://collectors.example/dvf' },
        },
        dispatchDeadline: { seconds: 1800 },
      },
    });
    const record = await server.waitForTask(name);

    // The answer is the task as created, BASIC view (no body).
    expect(created).toMatchObject({ name, view: 'BASIC', dispatchCount: 0 });
    expect(created.httpRequest?.body?.length ?? 0).toBe(0);
    expect(Number(created.dispatchDeadline?.seconds)).toBe(1800);

    expect(record.state).toBe('succeeded');
    expect(record.attempts).toMatchObject([{ attempt: 1, outcome: 'success', status: 200, error: null }]);
    expect(worker.requests).toHaveLength(1);
    const request = worker.requests[0]!;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/collectors/dvf',
      json: { collector: 'dvf', attempt: 1 },
    });
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      'x-execution-id': 'exec-1',
      'user-agent': 'Google-Cloud-Tasks',
      'x-cloudtasks-queuename': 'collectors',
      'x-cloudtasks-taskname': 'dvf-1795363200',
      'x-cloudtasks-taskretrycount': '0',
      'x-cloudtasks-taskexecutioncount': '0',
    });
    expect(request.headers['x-cloudtasks-taskpreviousresponse']).toBeUndefined();
    const eta = Number(request.headers['x-cloudtasks-tasketa']);
    expect(request.headers['x-cloudtasks-tasketa']).toMatch(/^\d{10}\.\d{6}$/);
    expect(eta * 1000).toBeCloseTo(record.createdAt, -1);
    expect(decodeIdToken(request.headers.authorization)).toMatchObject({
      aud: 'https://collectors.example/dvf',
      email: SA,
      iss: 'https://accounts.google.com',
    });

    // What the client sent, as decoded by the server.
    const call = server.requests.find((r) => r.method === 'CreateTask')!;
    expect(call.code).toBe(0);
    expect(call.metadata['x-goog-request-params']).toBe(`parent=${encodeURIComponent(parent)}`);
    expect(call.request.task).toMatchObject({
      name,
      dispatchDeadline: { seconds: '1800' },
      httpRequest: {
        httpMethod: 'POST',
        oidcToken: { serviceAccountEmail: SA },
        authorizationHeader: 'oidcToken',
      },
    });

    // A completed task leaves the queue.
    await expect(client.getTask({ name })).rejects.toMatchObject({ code: 5, details: TASK_GONE });
  });

  test('defaults: a generated task ID, the URL as OIDC audience, POST, and no token without oidcToken', async () => {
    const { server, client } = await setup({ queues: { q: {} } });
    const worker = await target(ok);
    const parent = server.queuePath('q');
    const url = `${worker.url}/collectors/sirene?full=1`;

    const [withToken] = await client.createTask({
      parent,
      task: { httpRequest: { url, oidcToken: { serviceAccountEmail: SA } } },
    });
    const [plain] = await client.createTask({
      parent,
      task: { httpRequest: { url: `${worker.url}/plain` } },
    });
    await server.waitForIdle();

    expect(withToken.name).toMatch(new RegExp(`^${parent}/tasks/\\d{19,}$`));
    expect(plain.name).not.toBe(withToken.name);
    const [first, second] = worker.requests;
    expect(first).toMatchObject({ method: 'POST', path: '/collectors/sirene?full=1' });
    expect(first!.headers['x-cloudtasks-taskname']).toBe(withToken.name!.split('/').pop());
    expect(decodeIdToken(first!.headers.authorization)?.aud).toBe(url);
    expect(second!.headers.authorization).toBeUndefined();
    expect(second!.headers['content-type']).toBeUndefined();
  });

  test('routeUrl sends a production URL to loopback, keeping it as the audience; other hosts are refused', async () => {
    const worker = await target(ok);
    const { server, client } = await setup({
      queues: { q: { maxAttempts: 1 } },
      routeUrl: (url) =>
        url.hostname.endsWith('.cloudfunctions.net') ? `${worker.url}${url.pathname}` : url,
    });
    const parent = server.queuePath('q');
    const cloudUrl = 'https://europe-west1-test-project.cloudfunctions.net/collectors/dvf';

    await client.createTask({
      parent,
      task: {
        name: `${parent}/tasks/routed`,
        httpRequest: { url: cloudUrl, oidcToken: { serviceAccountEmail: SA } },
      },
    });
    await client.createTask({
      parent,
      task: { name: `${parent}/tasks/elsewhere`, httpRequest: { url: 'https://collectors.example/dvf' } },
    });
    await server.waitForIdle();

    expect(server.task('routed')!.state).toBe('succeeded');
    expect(worker.requests[0]!.path).toBe('/collectors/dvf');
    expect(decodeIdToken(worker.requests[0]!.headers.authorization)?.aud).toBe(cloudUrl);
    expect(server.task('elsewhere')!.state).toBe('failed');
    expect(server.attemptsOf('elsewhere')).toMatchObject([
      { outcome: 'connection-error', status: null, error: expect.stringContaining('refusing to dispatch') },
    ]);
    expect(worker.requests).toHaveLength(1);
  });
});

describe('task names', () => {
  test('a duplicate name is refused with ALREADY_EXISTS (6) while pending, after completion and after deletion, for 1 h', async () => {
    const clock = new FakeClock(START, false);
    const { server, client } = await setup({ clock, queues: { q: {}, paused: { paused: true } } });
    const worker = await target(ok);
    const task = (queue: string, id: string): CreateTaskRequest => ({
      parent: server.queuePath(queue),
      task: { name: server.taskPath(queue, id), httpRequest: { url: worker.url } },
    });
    const duplicate = { code: 6, details: 'Requested entity already exists' };

    await client.createTask(task('paused', 'pending'));
    await expect(client.createTask(task('paused', 'pending'))).rejects.toMatchObject(duplicate);

    await client.createTask(task('q', 'done'));
    expect((await server.waitForTask('done')).state).toBe('succeeded');
    await expect(client.createTask(task('q', 'done'))).rejects.toMatchObject(duplicate);

    await client.deleteTask({ name: server.taskPath('paused', 'pending') });
    expect(server.task('pending')!.state).toBe('deleted');
    await expect(client.createTask(task('paused', 'pending'))).rejects.toMatchObject(duplicate);

    // The same ID in another queue is another name.
    await client.createTask(task('paused', 'done'));

    clock.advance(3_599_999);
    await expect(client.createTask(task('q', 'done'))).rejects.toMatchObject(duplicate);
    clock.advance(1);
    const [again] = await client.createTask(task('q', 'done'));
    expect(again.name).toBe(server.taskPath('q', 'done'));
    expect(server.requests.filter((r) => r.method === 'CreateTask').map((r) => r.code)).toEqual([
      0, 6, 0, 6, 6, 0, 6, 0,
    ]);
  });
});

describe('validation, as the real service answers', () => {
  let server: TasksServer;
  let client: CloudTasksClient;
  beforeAll(async () => {
    server = await startTasksServer({ clock: new FakeClock(START, false), queues: { q: {}, other: {} } });
    client = new CloudTasksClient(tasksClientOptions(server));
  });
  afterAll(async () => {
    await client.close();
    await server.close();
  });

  const url = 'http://127.0.0.1:9/collectors/dvf';
  const now = Date.parse(START);
  const cases: [string, () => TaskInput, number, string | RegExp][] = [
    [
      'a task ID with spaces',
      () => ({ name: server.taskPath('q', 'not a valid id'), httpRequest: { url } }),
      3,
      'Task ID "not a valid id" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.',
    ],
    [
      'a task ID with a colon (an ISO time)',
      () => ({ name: server.taskPath('q', 'dvf-2026-11-22T02:00:00Z'), httpRequest: { url } }),
      3,
      /^Task ID "dvf-2026-11-22T02:00:00Z" can contain only/,
    ],
    [
      'a 501-character task ID',
      () => ({ name: server.taskPath('q', 'a'.repeat(501)), httpRequest: { url } }),
      3,
      /^Task ID/,
    ],
    [
      'a bare task ID as the name',
      () => ({ name: 'dvf-1', httpRequest: { url } }),
      3,
      'Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>/tasks/<TASK_ID>"',
    ],
    [
      'a task named in another queue',
      () => ({ name: server.taskPath('other', 'dvf-1'), httpRequest: { url } }),
      3,
      /^The queue name from request \('.*\/queues\/q'\) must be the same as the queue name in the named task \('.*\/queues\/other'\)\.$/,
    ],
    [
      'a dispatchDeadline under 15 s',
      () => ({ httpRequest: { url }, dispatchDeadline: { seconds: 14, nanos: 999_000_000 } }),
      3,
      'Task.dispatchDeadline must be between [15s, 30m].',
    ],
    [
      'a dispatchDeadline over 30 min',
      () => ({ httpRequest: { url }, dispatchDeadline: { seconds: 1801 } }),
      3,
      'Task.dispatchDeadline must be between [15s, 30m].',
    ],
    ['no URL', () => ({ httpRequest: { httpMethod: 'POST' } }), 3, 'HttpRequest.url is required.'],
    [
      'a non-HTTP URL',
      () => ({ httpRequest: { url: 'ftp://127.0.0.1/x' } }),
      3,
      "HttpTarget.url must start with 'http://' or 'https://'.",
    ],
    [
      'a GET with a body',
      () => ({ httpRequest: { url, httpMethod: 'GET', body: Buffer.from('x') } }),
      3,
      /body/,
    ],
    [
      'a scheduleTime 31 days ahead',
      () => ({ httpRequest: { url }, scheduleTime: seconds(now + 31 * 24 * 3600_000) }),
      3,
      /^The Task\.scheduleTime, .*, is too far in the future\. Schedule time must be no more than 720h in the future\.$/,
    ],
    [
      'an OIDC token without a service account',
      () => ({ httpRequest: { url, oidcToken: { audience: url } } }),
      3,
      'OidcToken.serviceAccountEmail is required.',
    ],
    [
      'a body over 1 MiB',
      () => ({ httpRequest: { url, body: Buffer.alloc(1024 * 1024 + 1) } }),
      3,
      'Task size too large',
    ],
    ['an App Engine task', () => ({ appEngineHttpRequest: { relativeUri: '/x' } }), 12, /App Engine/],
  ];

  test.each(cases)('refuses %s', async (_label, task, code, details) => {
    const before = server.tasks.length;
    const error = await client.createTask({ parent: server.queuePath('q'), task: task() }).then(
      () => null,
      (e: unknown) => e as { code: number; details: string },
    );
    expect(error).toMatchObject({ code });
    if (typeof details === 'string') expect(error!.details).toBe(details);
    else expect(error!.details).toMatch(details);
    expect(server.tasks).toHaveLength(before);
  });

  test('accepts the boundaries: 15 s and 30 min deadlines, a scheduleTime 30 days ahead, a 500-character ID', async () => {
    const parent = server.queuePath('other');
    const accepted = await Promise.all([
      client.createTask({
        parent,
        task: {
          httpRequest: { url },
          dispatchDeadline: { seconds: 15 },
          scheduleTime: seconds(now + 3600_000),
        },
      }),
      client.createTask({
        parent,
        task: {
          httpRequest: { url },
          dispatchDeadline: { seconds: 1800 },
          scheduleTime: seconds(now + 3600_000),
        },
      }),
      client.createTask({
        parent,
        task: { httpRequest: { url }, scheduleTime: seconds(now + 30 * 24 * 3600_000) },
      }),
      client.createTask({
        parent,
        task: {
          name: `${parent}/tasks/${'a'.repeat(500)}`,
          httpRequest: { url },
          scheduleTime: seconds(now + 3600_000),
        },
      }),
    ]);
    expect(accepted.map(([t]) => Number(t.dispatchDeadline?.seconds))).toEqual([15, 1800, 600, 600]);
  });

  test('a task for a missing queue is NOT_FOUND (5)', async () => {
    await expect(
      client.createTask({ parent: server.queuePath('missing'), task: { httpRequest: { url } } }),
    ).rejects.toMatchObject({ code: 5, details: QUEUE_NOT_FOUND });
  });
});

test('autoCreateQueues creates a missing queue on CreateTask, with the given settings', async () => {
  const { server, client } = await setup({ autoCreateQueues: { maxConcurrentDispatches: 2 } });
  const worker = await target(ok);
  const parent = server.queuePath('data-collectors');
  await client.createTask({ parent, task: { name: `${parent}/tasks/t1`, httpRequest: { url: worker.url } } });
  expect((await server.waitForTask('t1')).state).toBe('succeeded');
  const [queue] = await client.getQueue({ name: parent });
  expect(queue.rateLimits?.maxConcurrentDispatches).toBe(2);
});

describe('time', () => {
  test('scheduleTime is honoured to the millisecond; a past one dispatches at once', async () => {
    const clock = new FakeClock(START, false);
    const start = clock.now();
    const { server, client } = await setup({ clock, queues: { q: {} } });
    const worker = await target(ok);
    const parent = server.queuePath('q');
    const create = (id: string, at?: number) =>
      client.createTask({
        parent,
        task: {
          name: `${parent}/tasks/${id}`,
          httpRequest: { url: `${worker.url}/${id}` },
          ...(at ? { scheduleTime: seconds(at) } : {}),
        },
      });

    const [later] = await create('later', start + 90_000);
    expect(Number(later.scheduleTime?.seconds) * 1000).toBe(start + 90_000);
    await create('past', start - 60_000);
    expect((await server.waitForTask('past')).attempts[0]!.startedAt).toBe(start);
    expect(worker.requests[0]!.headers['x-cloudtasks-tasketa']).toBe(`${(start - 60_000) / 1000}.000000`);

    clock.advance(89_999);
    // A task created now runs now: had "later" been due, it would have started before this one.
    await create('now');
    await server.waitForTask('now');
    expect(server.task('later')).toMatchObject({ state: 'scheduled', attempts: [] });
    expect(worker.requests.map((r) => r.path)).toEqual(['/past', '/now']);

    clock.advance(1);
    const record = await server.waitForTask('later');
    expect(record.attempts[0]!.startedAt).toBe(start + 90_000);
    expect(worker.requests[2]!.headers['x-cloudtasks-tasketa']).toBe(`${(start + 90_000) / 1000}.000000`);
  });

  test('timeScale runs real time faster: a 15 s dispatch deadline and a 1 s backoff end within the test (unscaled, 31 s would outlive it)', async () => {
    const { server, client } = await setup({
      timeScale: 0.002,
      queues: { slow: { maxAttempts: 2, minBackoffSeconds: 1, maxBackoffSeconds: 1 } },
    });
    const worker = await target(() => undefined); // never answers
    const parent = server.queuePath('slow');
    await client.createTask({
      parent,
      task: {
        name: `${parent}/tasks/hangs`,
        httpRequest: { url: worker.url },
        dispatchDeadline: { seconds: 15 },
      },
    });

    const record = await server.waitForTask('hangs');
    expect(record.state).toBe('failed');
    expect(record.attempts.map((a) => a.outcome)).toEqual(['timeout', 'timeout']);
    expect(record.attempts[0]!.error).toBe('DEADLINE_EXCEEDED: no response within the 15s dispatch deadline');
    expect(record.attempts[0]!.backoffMs).toBe(1000);
    expect(worker.requests).toHaveLength(2);
  });
});

describe('retries', () => {
  test('backoff doubles from minBackoff, then grows linearly, capped at maxBackoff', () => {
    const docExample = { minBackoffMs: 10_000, maxBackoffMs: 300_000, maxDoublings: 3 };
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((r) => cloudTasksBackoffMs(r, docExample) / 1000)).toEqual([
      10, 20, 40, 80, 160, 240, 300, 300,
    ]);
    const defaults = { minBackoffMs: 100, maxBackoffMs: 3_600_000, maxDoublings: 16 };
    expect([0, 1, 2, 16, 17, 30].map((r) => cloudTasksBackoffMs(r, defaults))).toEqual([
      100, 200, 400, 3_600_000, 3_600_000, 3_600_000,
    ]);
  });

  test('a non-2xx is retried with backoff until maxAttempts, then the task fails', async () => {
    const clock = new FakeClock(START); // sleeps advance it: backoffs pass at once, exactly
    const { server, client } = await setup({
      clock,
      queues: { flaky: { maxAttempts: 5, minBackoffSeconds: 1, maxBackoffSeconds: 5 } },
    });
    const worker = await target(statuses(503));
    const parent = server.queuePath('flaky');
    const name = `${parent}/tasks/always-503`;
    await client.createTask({ parent, task: { name, httpRequest: { url: worker.url } } });

    const record = await server.waitForTask(name);
    expect(record.state).toBe('failed');
    expect(record.attempts.map((a) => [a.attempt, a.outcome, a.status])).toEqual(
      [1, 2, 3, 4, 5].map((n) => [n, 'http-error', 503]),
    );
    expect(diffs(record.attempts.map((a) => a.startedAt))).toEqual([1000, 2000, 4000, 5000]);
    expect(record.attempts.map((a) => a.backoffMs)).toEqual([1000, 2000, 4000, 5000, null]);
    const header = (h: string) => worker.requests.map((r) => r.headers[h]);
    expect(header('x-cloudtasks-taskretrycount')).toEqual(['0', '1', '2', '3', '4']);
    expect(header('x-cloudtasks-taskexecutioncount')).toEqual(['0', '0', '0', '0', '0']); // 5xx do not count
    expect(header('x-cloudtasks-taskpreviousresponse')).toEqual([undefined, '503', '503', '503', '503']);
    expect(record.task).toMatchObject({
      dispatchCount: 5,
      responseCount: 5,
      lastAttempt: { responseStatus: { code: 14 } },
    });

    await expect(client.getTask({ name })).rejects.toMatchObject({ code: 5, details: TASK_GONE });
    await expect(
      client.createTask({ parent, task: { name, httpRequest: { url: worker.url } } }),
    ).rejects.toMatchObject({ code: 6 });
  });

  test('a 2xx stops the retries; 4xx responses count as executions', async () => {
    const clock = new FakeClock(START);
    const { server, client } = await setup({
      clock,
      queues: { q: { maxAttempts: 10, minBackoffSeconds: 2 } },
    });
    const worker = await target(statuses(404, 500, 204, 500));
    const parent = server.queuePath('q');
    await client.createTask({
      parent,
      task: { name: `${parent}/tasks/t`, httpRequest: { url: worker.url } },
    });

    const record = await server.waitForTask('t');
    await server.waitForIdle();
    expect(record.state).toBe('succeeded');
    expect(record.attempts.map((a) => a.status)).toEqual([404, 500, 204]);
    expect(diffs(record.attempts.map((a) => a.startedAt))).toEqual([2000, 4000]);
    expect(worker.requests).toHaveLength(3);
    expect(worker.requests.map((r) => r.headers['x-cloudtasks-taskexecutioncount'])).toEqual(['0', '1', '1']);
    expect(worker.requests.map((r) => r.headers['x-cloudtasks-taskpreviousresponse'])).toEqual([
      undefined,
      '404',
      '500',
    ]);
  });

  test('the dispatch deadline cuts an attempt off; it counts as a failed attempt and is retried', async () => {
    const clock = new FakeClock(START);
    const { server, client } = await setup({ clock, queues: { q: { minBackoffSeconds: 1 } } });
    const hung: ServerResponse[] = [];
    const worker = await target((_req, res, _body, index) => {
      if (index === 0) hung.push(res);
      else res.writeHead(200).end();
    });
    const parent = server.queuePath('q');
    await client.createTask({
      parent,
      task: {
        name: `${parent}/tasks/slow`,
        httpRequest: { url: worker.url },
        dispatchDeadline: { seconds: 20 },
      },
    });

    await worker.waitForRequests(1);
    expect(server.attemptsOf('slow')).toMatchObject([{ outcome: 'in-flight' }]);
    clock.advance(30_000);
    const record = await server.waitForTask('slow');

    expect(record.state).toBe('succeeded');
    const [first, second] = record.attempts;
    expect(first).toMatchObject({ outcome: 'timeout', status: null, backoffMs: 1000 });
    expect(first!.error).toMatch(/^DEADLINE_EXCEEDED: .* 20s dispatch deadline$/);
    expect(first!.endedAt! - first!.startedAt).toBe(20_000);
    expect(second).toMatchObject({ outcome: 'success', status: 200 });
    expect(worker.requests[1]!.headers['x-cloudtasks-taskretrycount']).toBe('1');
    expect(hung[0]!.req.destroyed).toBe(true);
  });

  test('a refused connection is a failed attempt', async () => {
    const closed = await startServer(ok);
    await closed.close();
    const { server, client } = await setup({
      clock: new FakeClock(START),
      queues: { q: { maxAttempts: 2 } },
    });
    const parent = server.queuePath('q');
    await client.createTask({
      parent,
      task: { name: `${parent}/tasks/t`, httpRequest: { url: closed.url } },
    });

    const record = await server.waitForTask('t');
    expect(record.state).toBe('failed');
    expect(record.attempts.map((a) => a.outcome)).toEqual(['connection-error', 'connection-error']);
    expect(record.attempts[0]!.error).toMatch(/^UNAVAILABLE: .*ECONNREFUSED/);
  });
});

describe('queue limits', () => {
  test('never more than maxConcurrentDispatches in flight per queue, over 50 tasks', async () => {
    const { server, client } = await setup({ queues: { narrow: { maxConcurrentDispatches: 5 }, other: {} } });
    const held: ServerResponse[] = [];
    let open = 0;
    let maxOpen = 0;
    const worker = await target((_req, res) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      res.on('finish', () => open--);
      held.push(res);
    });
    const otherWorker = await target(ok);
    const parent = server.queuePath('narrow');

    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        client.createTask({
          parent,
          task: { name: `${parent}/tasks/t${i}`, httpRequest: { url: `${worker.url}/t${i}` } },
        }),
      ),
    );
    await worker.waitForRequests(5);
    // A full queue does not hold back another queue.
    const otherParent = server.queuePath('other');
    await client.createTask({
      parent: otherParent,
      task: { name: `${otherParent}/tasks/x`, httpRequest: { url: otherWorker.url } },
    });
    expect((await server.waitForTask('x')).state).toBe('succeeded');

    // Release one response at a time: each frees exactly one slot.
    for (let released = 0; released < 50; released++) {
      await worker.waitForRequests(Math.min(50, 5 + released));
      expect(held).toHaveLength(Math.min(5, 50 - released));
      // The server's own count agrees with the target's once it has seen the last response.
      await server.waitFor((s) => s.inFlight('narrow') === held.length);
      held.shift()!.writeHead(200).end();
    }
    await server.waitForIdle();

    expect(server.maxConcurrency('narrow')).toBe(5);
    expect(maxOpen).toBe(5);
    expect(new Set(worker.requests.map((r) => r.path)).size).toBe(50);
    expect(server.tasks.filter((t) => t.queue === parent).every((t) => t.state === 'succeeded')).toBe(true);
  });

  test('maxDispatchesPerSecond: after a burst of 100, one start per 1/rate seconds', async () => {
    const clock = new FakeClock(START);
    const start = clock.now();
    const { server, client } = await setup({ clock, queues: { q: { maxDispatchesPerSecond: 10 } } });
    const worker = await target(ok);
    const parent = server.queuePath('q');
    await Promise.all(
      Array.from({ length: 104 }, (_, i) =>
        client.createTask({
          parent,
          task: { name: `${parent}/tasks/t${i}`, httpRequest: { url: worker.url } },
        }),
      ),
    );
    await server.waitForIdle();

    const starts = server.attempts.map((a) => a.startedAt - start).sort((a, b) => a - b);
    expect(starts.filter((t) => t === 0)).toHaveLength(100);
    expect(starts.slice(100)).toEqual([100, 200, 300, 400]);
  });
});

describe('queues over gRPC', () => {
  test('create, get, update with a mask, list, pause and resume, purge, delete', async () => {
    const { server, client } = await setup();
    const worker = await target(ok);
    const parent = 'projects/test-project/locations/us-central1';
    const name = `${parent}/queues/collectors`;

    const [created] = await client.createQueue({
      parent,
      queue: {
        name,
        rateLimits: { maxConcurrentDispatches: 4, maxDispatchesPerSecond: 10 },
        retryConfig: {
          maxAttempts: 3,
          minBackoff: { seconds: 1 },
          maxBackoff: { seconds: 30 },
          maxDoublings: 2,
        },
      },
    });
    expect(created).toMatchObject({
      name,
      state: 'RUNNING',
      rateLimits: { maxConcurrentDispatches: 4, maxDispatchesPerSecond: 10, maxBurstSize: 100 },
      retryConfig: { maxAttempts: 3, maxDoublings: 2 },
    });
    expect(Number(created.retryConfig?.maxBackoff?.seconds)).toBe(30);
    await expect(client.createQueue({ parent, queue: { name } })).rejects.toMatchObject({
      code: 6,
      details: 'Queue already exists',
    });
    await expect(
      client.createQueue({
        parent,
        queue: { name: `${parent}/queues/big`, rateLimits: { maxConcurrentDispatches: 5001 } },
      }),
    ).rejects.toMatchObject({
      code: 3,
      details: 'RateLimits.maxConcurrentDispatches must be less than or equal to 5000.',
    });
    await expect(
      client.createQueue({ parent, queue: { name: `${parent}/queues/bad_name` } }),
    ).rejects.toMatchObject({
      code: 3,
    });

    const [updated] = await client.updateQueue({
      queue: { name, rateLimits: { maxConcurrentDispatches: 2, maxDispatchesPerSecond: 1 } },
      updateMask: { paths: ['rate_limits.max_concurrent_dispatches'] },
    });
    expect(updated.rateLimits).toMatchObject({ maxConcurrentDispatches: 2, maxDispatchesPerSecond: 10 });
    expect(updated.retryConfig?.maxAttempts).toBe(3);
    const [fetched] = await client.getQueue({ name });
    expect(fetched.rateLimits?.maxConcurrentDispatches).toBe(2);
    expect(server.queue('collectors')?.rateLimits?.maxConcurrentDispatches).toBe(2);

    // UpdateQueue creates a missing queue, as the real one does.
    await client.updateQueue({ queue: { name: `${parent}/queues/made-by-update` } });
    const [queues] = await client.listQueues({ parent });
    expect(queues.map((q) => q.name).sort()).toEqual([name, `${parent}/queues/made-by-update`]);

    const [paused] = await client.pauseQueue({ name });
    expect(paused.state).toBe('PAUSED');
    const body = Buffer.from('{"collector":"dvf"}');
    for (const id of ['a', 'b', 'c']) {
      await client.createTask({
        parent: name,
        task: { name: `${name}/tasks/${id}`, httpRequest: { url: worker.url, body } },
      });
    }
    expect(server.attempts).toHaveLength(0);
    const [basic] = await client.listTasks({ parent: name });
    expect(basic.map((t) => t.name!.split('/').pop())).toEqual(['a', 'b', 'c']);
    expect(basic.every((t) => (t.httpRequest?.body?.length ?? 0) === 0)).toBe(true);
    const [full] = await client.getTask({ name: `${name}/tasks/a`, responseView: 'FULL' });
    expect(Buffer.from(full.httpRequest!.body as Uint8Array).toString()).toBe('{"collector":"dvf"}');

    await client.deleteTask({ name: `${name}/tasks/b` });
    await expect(client.deleteTask({ name: `${name}/tasks/b` })).rejects.toMatchObject({ code: 5 });
    await expect(client.getTask({ name: `${name}/tasks/nope` })).rejects.toMatchObject({
      code: 5,
      details: 'Requested entity was not found.',
    });

    // RunTask dispatches now, even in a paused queue.
    const [run] = await client.runTask({ name: `${name}/tasks/c` });
    expect(run.dispatchCount).toBe(1);
    expect((await server.waitForTask('c')).attempts[0]!.forced).toBe(true);

    await client.resumeQueue({ name });
    expect((await server.waitForTask('a')).state).toBe('succeeded');
    expect(worker.requests.map((r) => r.json)).toEqual([{ collector: 'dvf' }, { collector: 'dvf' }]);

    await client.pauseQueue({ name });
    await client.createTask({
      parent: name,
      task: { name: `${name}/tasks/d`, httpRequest: { url: worker.url } },
    });
    await client.purgeQueue({ name });
    expect((await client.listTasks({ parent: name }))[0]).toHaveLength(0);
    expect(server.task('d')!.state).toBe('deleted');

    await client.deleteQueue({ name });
    await expect(client.getQueue({ name })).rejects.toMatchObject({ code: 5, details: QUEUE_NOT_FOUND });
    await expect(
      client.createTask({ parent: name, task: { httpRequest: { url: worker.url } } }),
    ).rejects.toMatchObject({
      code: 5,
    });
    await expect(client.createQueue({ parent, queue: { name } })).rejects.toMatchObject({
      code: 9,
      details: 'The queue cannot be created because a queue with this name existed too recently.',
    });
  });

  test('failNext makes the next calls of a method fail; the client retries GetQueue, not CreateTask', async () => {
    const { server, client } = await setup({ queues: { q: {} } });
    const parent = server.queuePath('q');
    server.failNext('GetQueue', 14, 'try again later');
    server.failNext('CreateTask', 14, 'try again later');

    const [queue] = await client.getQueue({ name: parent });
    expect(queue.name).toBe(parent);
    await expect(
      client.createTask({ parent, task: { httpRequest: { url: 'http://127.0.0.1:9/' } } }),
    ).rejects.toMatchObject({
      code: 14,
      details: 'try again later',
    });
    expect(server.requests.map((r) => [r.method, r.code])).toEqual([
      ['GetQueue', 14],
      ['GetQueue', 0],
      ['CreateTask', 14],
    ]);
    expect(server.tasks).toHaveLength(0);
  });
});

describe('client options and CLOUD_TASKS_EMULATOR_HOST', () => {
  afterEach(() => {
    delete process.env.CLOUD_TASKS_EMULATOR_HOST;
  });

  test('the client ignores CLOUD_TASKS_EMULATOR_HOST; tasksClientOptions(host:port) is the mapping', async () => {
    const server = await startTasksServer({ queues: { q: {} } });
    cleanups.push(() => server.close());
    process.env.CLOUD_TASKS_EMULATOR_HOST = server.address;

    // Where a client connects: its resolved options (private, read here only to document the behaviour).
    const endpoint = (c: CloudTasksClient) => {
      const { servicePath, port } = (c as unknown as { _opts: { servicePath: string; port: number } })._opts;
      return `${servicePath}:${port}`;
    };
    const unmapped = new CloudTasksClient();
    expect(endpoint(unmapped)).toBe('cloudtasks.googleapis.com:443');
    await unmapped.close();

    const mapped = new CloudTasksClient(tasksClientOptions(process.env.CLOUD_TASKS_EMULATOR_HOST));
    cleanups.push(() => mapped.close());
    expect(endpoint(mapped)).toBe(server.address);
    const [queue] = await mapped.getQueue({ name: server.queuePath('q') });
    expect(queue.state).toBe('RUNNING');
    expect(() => tasksClientOptions('no-port')).toThrow('Expected host:port');
  });
});

describe('close()', () => {
  test('stops dispatching, aborts requests in flight, rejects waiters and leaves no timer or socket', async () => {
    const kinds = () => {
      const counts: Record<string, number> = {};
      for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
      return {
        timers: counts.Timeout ?? 0,
        sockets: counts.TCPSocketWrap ?? 0,
        servers: counts.TCPServerWrap ?? 0,
      };
    };
    const refused = await target(ok);
    await refused.close();
    const held: ServerResponse[] = [];
    const worker = await target((_req, res) => void held.push(res));
    const before = kinds();
    const server = await startTasksServer({
      queues: { q: { minBackoffSeconds: 3600, maxBackoffSeconds: 3600 } },
    });
    const client = new CloudTasksClient(tasksClientOptions(server));
    cleanups.push(
      () => server.close(),
      () => client.close(),
    );
    const parent = server.queuePath('q');
    const create = (id: string, url: string, extra: Partial<TaskInput> = {}) =>
      client.createTask({ parent, task: { name: `${parent}/tasks/${id}`, httpRequest: { url }, ...extra } });

    await create('in-flight', worker.url);
    await create('backing-off', refused.url);
    await create('tomorrow', worker.url, { scheduleTime: seconds(Date.now() + 24 * 3600_000) });
    await worker.waitForRequests(1);
    await server.waitFor((s) => s.attemptsOf('backing-off')[0]?.backoffMs === 3_600_000);
    const running = kinds();
    const idle = server.waitForIdle({ timeoutMs: Infinity }).then(
      () => 'idle',
      (error: Error) => error.message,
    );

    await client.close();
    await server.close();
    await server.close(); // idempotent

    expect(await idle).toMatch(/^tasks server closed while waiting/);
    expect(server.attemptsOf('in-flight')).toMatchObject([
      { outcome: 'cancelled', error: 'CANCELLED: tasks server closed' },
    ]);
    expect(server.attempts).toHaveLength(2);
    expect(held[0]!.req.destroyed).toBe(true);
    // The worker is still up: nothing else is left. The gRPC client and a closed http.Server clear
    // their own timers and handles a few turns of the event loop after close() resolves (more turns on
    // a loaded machine), so this waits for the counts to come back; a timer or socket that leaked (the
    // hour-long backoff, a held connection) never does, and fails the wait.
    await until(() => {
      const now = kinds();
      return now.timers <= before.timers && now.sockets <= before.sockets && now.servers <= before.servers;
    }, 'no timer, socket or server left by the tasks server');
    expect(kinds().servers).toBeLessThan(running.servers);

    const late = new CloudTasksClient(tasksClientOptions(server));
    cleanups.push(() => late.close());
    await expect(late.getQueue({ name: parent }, { retry: { retryCodes: [] } })).rejects.toMatchObject({
      code: 14,
    });
  });
});
