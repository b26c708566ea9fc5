/**
 * The Cloud Tasks dispatcher with the real @google-cloud/tasks client (over gRPC) against the loopback
 * Cloud Tasks server, reached the way production code reaches an emulator: CLOUD_TASKS_EMULATOR_HOST.
 */
import { CloudTasksClient } from '@google-cloud/tasks';
import type { Config } from '../../src/config/types';
import {
  createTasksDispatcher,
  EXECUTION_ID_HEADER,
  type TasksDispatcherOptions,
} from '../../src/dispatch/tasks-dispatcher';
import type { DispatchTarget, ProgressEvent } from '../../src/dispatch/types';
import { closeTasksClients, type TasksApi } from '../../src/tasks/client';
import { taskIdFor } from '../../src/tasks/naming';
import { describeRpcError, isAlreadyExists, isRetryableRpc } from '../../src/tasks/rpc-errors';
import { FakeClock } from '../support/fake-clock';
import { startServer } from '../support/http';
import { captureLogger, testConfig } from '../support/services';
import { startTasksServer, tasksClientOptions, type TasksServer } from '../support/tasks-server';
import { tempDirs } from '../support/temp';

const SA = 'scheduler@test-project.iam.gserviceaccount.com';
const SCHEDULED = '2026-11-22T14:00:00.000Z';
const dirs = tempDirs();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await closeTasksClients();
  dirs.cleanup();
});

const TASKS = `project: test-project, location: us-central1, queue: collectors, service_account_email: ${SA}, max_attempts: 4`;

function config(extra = '', tasks = TASKS, mode = 'tasks'): Config {
  return testConfig(
    `scheduler:\n  mode: ${mode}\n  auth: { type: none }\n  tasks: { ${tasks} }\ncollectors:\n  dvf: { url: "https://europe-west1-p.cloudfunctions.net/dvf?key=abc" }\n  sirene: { url: "https://collectors.example/sirene", queue: slow-lane }\n  xmp: { url: "https://collectors.example/xmp", group: xmp-account }\n  xmp-daily: { url: "https://collectors.example/xmp-daily", group: xmp-account, queue: other }\n${extra}`,
    dirs.make('tasks'),
  );
}

function target(cfg: Config, name: string, overrides: Partial<DispatchTarget> = {}): DispatchTarget {
  const c = cfg.collectors.find((x) => x.name === name)!;
  return {
    name,
    url: c.url!,
    payload: {
      executionId: 'exec-1',
      collector: name,
      scheduledTime: SCHEDULED,
      attempt: 1,
    },
    timeoutMs: c.timeoutSeconds * 1000,
    retry: c.retry,
    group: c.group,
    groupWaitMs: 0,
    queue: c.queue ?? cfg.scheduler.tasks.queue,
    ...overrides,
  };
}

async function setup(
  cfg: Config = config(),
  options: TasksDispatcherOptions = {},
  paused = true,
): Promise<{
  server: TasksServer;
  dispatcher: ReturnType<typeof createTasksDispatcher>;
  logs: ReturnType<typeof captureLogger>['entries'];
  events: ProgressEvent[];
  signal: AbortSignal;
}> {
  // Paused queues keep tasks in place, so what was created can be inspected; nothing is dispatched.
  const server = await startTasksServer({ autoCreateQueues: { paused } });
  cleanups.push(() => server.close());
  const { logger, entries } = captureLogger();
  const dispatcher = createTasksDispatcher(
    {
      config: cfg,
      clock: new FakeClock(),
      logger,
      env: { CLOUD_TASKS_EMULATOR_HOST: server.address },
      auth: { headersFor: async () => ({ authorization: 'Bearer bearer-secret-value' }) },
      random: () => 0.5,
    },
    options,
  );
  return { server, dispatcher, logs: entries, events: [], signal: new AbortController().signal };
}

/** A paused loopback server and the real client pointed at it, for tests that wrap the client. */
async function realClient(): Promise<{ server: TasksServer; real: CloudTasksClient }> {
  const server = await startTasksServer({ autoCreateQueues: { paused: true } });
  const real = new CloudTasksClient(tasksClientOptions(server));
  cleanups.push(
    () => server.close(),
    () => real.close(),
  );
  return { server, real };
}

/** The real client with its createTask replaced (answers lost, calls counted). */
function wrapped(real: CloudTasksClient, createTask: TasksApi['createTask']): TasksApi {
  return { createTask, getTask: real.getTask.bind(real) as TasksApi['getTask'], close: () => real.close() };
}

function dispatcherWith(cfg: Config, options: TasksDispatcherOptions = {}) {
  return createTasksDispatcher(
    {
      config: cfg,
      clock: new FakeClock(),
      logger: captureLogger().logger,
      env: {},
      auth: { headersFor: async () => ({}) },
      random: () => 0,
    },
    options,
  );
}

describe('the Cloud Tasks dispatcher', () => {
  it('creates one task per collector: POST of the payload, OIDC token for the URL without query, deadline, deterministic name', async () => {
    const cfg = config();
    const { server, dispatcher, events, signal } = await setup(cfg);
    const outcomes = await dispatcher.dispatch([target(cfg, 'dvf'), target(cfg, 'sirene')], {
      signal,
      onProgress: (e) => events.push(e),
    });

    const dvfName = server.taskPath('collectors', taskIdFor('dvf', SCHEDULED));
    expect(outcomes.map((o) => [o.name, o.status, o.error])).toEqual([
      ['dvf', 'scheduled', null],
      ['sirene', 'scheduled', null],
    ]);
    expect(outcomes[0]).toMatchObject({
      httpStatus: null,
      attempts: 0,
      startMs: null,
      extra: {
        task_name: dvfName,
        queue: 'collectors',
        task_max_attempts: 4,
        dispatch_deadline_seconds: 300,
      },
    });
    expect(outcomes[0]!.extra!['duplicate']).toBeUndefined();
    const calls = server.requests.filter((r) => r.method === 'CreateTask');
    expect(calls.map((c) => c.request.parent)).toEqual([
      server.queuePath('collectors'),
      server.queuePath('slow-lane'),
    ]);
    const task = calls[0]!.request.task!;
    expect(task).toMatchObject({
      name: dvfName,
      dispatchDeadline: { seconds: '300' },
      httpRequest: {
        url: 'https://europe-west1-p.cloudfunctions.net/dvf?key=abc',
        httpMethod: 'POST',
        headers: { 'Content-Type': 'application/json', [EXECUTION_ID_HEADER]: 'exec-1' },
        oidcToken: { serviceAccountEmail: SA, audience: 'https://europe-west1-p.cloudfunctions.net/dvf' },
      },
    });
    expect(JSON.parse(task.httpRequest!.body!.toString('utf8'))).toEqual({
      executionId: 'exec-1',
      collector: 'dvf',
      scheduledTime: SCHEDULED,
      attempt: 1,
    });
    expect(events.filter((e) => e.type === 'finish')).toHaveLength(2);
    // No query string (it may hold a key) reaches a report.
    expect(JSON.stringify(outcomes)).not.toContain('key=abc');
  });

  it('derives task IDs from (collector, scheduled time) only, hash first', () => {
    const id = taskIdFor('xmp-daily', SCHEDULED);
    expect(id).toMatch(/^[0-9a-f]{16}-xmp-daily-20261122T140000000Z$/);
    expect(taskIdFor('xmp-daily', '2026-11-22T15:00:00+01:00')).toBe(id);
    expect(taskIdFor('xmp-daily', '2026-11-22T14:30:00Z')).not.toBe(id);
    expect(taskIdFor('xmp', SCHEDULED)).not.toBe(id);
  });

  it.each([
    [5, 15, /under Cloud Tasks' 15 s minimum/],
    [3600, 1800, /over Cloud Tasks' 1800 s dispatch deadline/],
  ])(
    'clamps a timeout of %i s to a %i s dispatch deadline, with a warning',
    async (timeout, seconds, warning) => {
      const cfg = config();
      const { server, dispatcher, logs, signal } = await setup(cfg);
      const [outcome] = await dispatcher.dispatch([target(cfg, 'dvf', { timeoutMs: timeout * 1000 })], {
        signal,
      });
      expect(outcome).toMatchObject({ status: 'scheduled', extra: { dispatch_deadline_seconds: seconds } });
      expect(outcome!.extra!['warning']).toMatch(warning);
      expect(logs.some((e) => e.severity === 'WARNING' && warning.test(e.message))).toBe(true);
      expect(server.requests[0]!.request.task!.dispatchDeadline).toEqual({ seconds: String(seconds) });
    },
  );

  it("sends a group's members to the group's own queue, named after its first member's queue", async () => {
    const cfg = config();
    const { server, dispatcher, signal } = await setup(cfg);
    const outcomes = await dispatcher.dispatch([target(cfg, 'xmp-daily'), target(cfg, 'xmp')], { signal });
    expect(outcomes.map((o) => o.extra!['queue'])).toEqual([
      'collectors-xmp-account',
      'collectors-xmp-account',
    ]);
    expect(server.requests.map((r) => r.request.parent)).toEqual([
      server.queuePath('collectors-xmp-account'),
      server.queuePath('collectors-xmp-account'),
    ]);
  });

  it('reports a repeated trigger as scheduled with duplicate: true, naming the execution that owns the task', async () => {
    const cfg = config();
    const { server, dispatcher, signal } = await setup(cfg);
    await dispatcher.dispatch([target(cfg, 'dvf')], { signal });
    const again = target(cfg, 'dvf');
    again.payload = { ...again.payload, executionId: 'exec-2' };
    const [outcome] = await dispatcher.dispatch([again], { signal });

    expect(outcome).toMatchObject({
      status: 'scheduled',
      error: null,
      extra: { duplicate: true, duplicate_of: 'exec-1' },
    });
    const creates = server.requests.filter((r) => r.method === 'CreateTask');
    expect(creates.map((r) => r.code)).toEqual([0, 6]);
    expect(server.tasks).toHaveLength(1);
  });

  it('a duplicate of a task that already ran (gone from the queue) is still a duplicate', async () => {
    const cfg = config();
    const worker = await startServer((_req, res) => void res.writeHead(200).end('{}'));
    cleanups.push(() => worker.close());
    const { server, dispatcher, signal } = await setup(cfg, {}, false);
    const loopback = { ...target(cfg, 'dvf'), url: `${worker.url}/dvf` };
    await dispatcher.dispatch([loopback], { signal });
    await server.waitForIdle();
    const [outcome] = await dispatcher.dispatch(
      [{ ...loopback, payload: { ...loopback.payload, executionId: 'exec-2' } }],
      { signal },
    );
    expect(outcome).toMatchObject({ status: 'scheduled', extra: { duplicate: true } });
    expect(outcome!.extra!['duplicate_of']).toBeUndefined();
    expect(worker.requests).toHaveLength(1);
  });

  it('retries UNAVAILABLE and DEADLINE_EXCEEDED, then reports scheduled', async () => {
    const cfg = config();
    const { server, dispatcher, events, signal } = await setup(cfg);
    server.failNext('CreateTask', 14, 'connection reset');
    server.failNext('CreateTask', 4, 'deadline exceeded');
    const [outcome] = await dispatcher.dispatch([target(cfg, 'dvf')], {
      signal,
      onProgress: (e) => events.push(e),
    });
    expect(outcome).toMatchObject({ status: 'scheduled', extra: { create_calls: 3 } });
    expect(server.requests.map((r) => r.code)).toEqual([14, 4, 0]);
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { reason: string }).reason)).toEqual([
      'UNAVAILABLE: connection reset',
      'DEADLINE_EXCEEDED: deadline exceeded',
    ]);
  });

  it('gives up after the last try, as TASKS_FAILED', async () => {
    const cfg = config();
    const { server, dispatcher, signal } = await setup(cfg, { attempts: 2 });
    server.failNext('CreateTask', 14, 'down', 5);
    const [outcome] = await dispatcher.dispatch([target(cfg, 'dvf')], { signal });
    expect(outcome).toMatchObject({
      status: 'failed',
      errorType: 'TasksError',
      extra: { error_code: 'TASKS_FAILED' },
    });
    expect(outcome!.error).toMatch(
      /^TASKS_FAILED: could not create the Cloud Task for dvf in queue collectors after 2 attempts: UNAVAILABLE: down$/,
    );
    expect(server.requests).toHaveLength(2);
  });

  it('does not retry what cannot succeed: a missing queue fails at once, with the fix', async () => {
    const cfg = config();
    const server = await startTasksServer();
    cleanups.push(() => server.close());
    const dispatcher = createTasksDispatcher({
      config: cfg,
      clock: new FakeClock(),
      logger: captureLogger().logger,
      env: { CLOUD_TASKS_EMULATOR_HOST: server.address },
      auth: { headersFor: async () => ({}) },
      random: () => 0.5,
    });
    const outcomes = await dispatcher.dispatch([target(cfg, 'dvf'), target(cfg, 'sirene')], {
      signal: new AbortController().signal,
    });
    expect(outcomes.map((o) => o.status)).toEqual(['failed', 'failed']);
    expect(outcomes[0]!.error).toMatch(
      /NOT_FOUND: Queue does not exist.*create it with `scheduler queues --apply`/,
    );
    expect(outcomes[0]!.extra).toMatchObject({ rpc_code: 5 });
    expect(server.requests).toHaveLength(2);
  });

  it('a task whose creation answer was lost, found on the retry, is ours: scheduled, not a duplicate', async () => {
    const cfg = config();
    const { server, real } = await realClient();
    let first = true;
    // The real client, with the first answer lost after Cloud Tasks stored the task.
    const lossy = wrapped(real, (async (request: Parameters<CloudTasksClient['createTask']>[0]) => {
      const result = await real.createTask(request);
      if (first) {
        first = false;
        throw Object.assign(new Error('4 DEADLINE_EXCEEDED: lost'), { code: 4 });
      }
      return result;
    }) as TasksApi['createTask']);
    const dispatcher = dispatcherWith(cfg, { client: async () => lossy });
    const [outcome] = await dispatcher.dispatch([target(cfg, 'dvf')], {
      signal: new AbortController().signal,
    });
    expect(outcome).toMatchObject({ status: 'scheduled', extra: { create_calls: 2 } });
    expect(outcome!.extra!['duplicate']).toBeUndefined();
    expect(server.requests.map((r) => [r.method, r.code])).toEqual([
      ['CreateTask', 0],
      ['CreateTask', 6],
      ['GetTask', 0],
    ]);
  });

  it('creates tasks concurrently, never more at once than its bound', async () => {
    const cfg = config(
      Array.from({ length: 30 }, (_, i) => `  c${i}: { url: "https://collectors.example/c${i}" }`).join('\n'),
    );
    const { server, real } = await realClient();
    let inFlight = 0;
    let peak = 0;
    const counting = wrapped(real, (async (request: Parameters<CloudTasksClient['createTask']>[0]) => {
      peak = Math.max(peak, ++inFlight);
      try {
        return await real.createTask(request);
      } finally {
        inFlight--;
      }
    }) as TasksApi['createTask']);
    const dispatcher = dispatcherWith(cfg, { client: async () => counting, concurrency: 4 });
    const targets = cfg.collectors.filter((c) => c.name.startsWith('c')).map((c) => target(cfg, c.name));
    const outcomes = await dispatcher.dispatch(targets, { signal: new AbortController().signal });
    expect(outcomes.map((o) => o.name)).toEqual(targets.map((t) => t.name));
    expect(outcomes.every((o) => o.status === 'scheduled')).toBe(true);
    expect(peak).toBe(4);
    expect(server.tasks).toHaveLength(30);
  });

  it('refuses loopback URLs when talking to Cloud Tasks itself (it could not reach them)', async () => {
    const cfg = config();
    const { server, real } = await realClient();
    const dispatcher = dispatcherWith(cfg, { client: async () => real });
    const [outcome] = await dispatcher.dispatch(
      [target(cfg, 'dvf', { url: 'http://127.0.0.1:9/collectors/dvf' })],
      {
        signal: new AbortController().signal,
      },
    );
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'TasksError' });
    expect(outcome!.error).toMatch(/Cloud Tasks cannot reach http:\/\/127\.0\.0\.1:9\/collectors\/dvf/);
    expect(server.requests).toHaveLength(0);
  });

  it('with auth type bearer, sends the bearer header instead of an OIDC token', async () => {
    const cfg = withBearer(config());
    const { server, dispatcher, signal } = await setup(cfg);
    await dispatcher.dispatch([target(cfg, 'dvf')], { signal });
    const http = server.requests[0]!.request.task!.httpRequest!;
    expect(http.oidcToken).toBeUndefined();
    expect(http.headers).toMatchObject({ authorization: 'Bearer bearer-secret-value' });
  });

  it('fails every collector, without a call, when the tasks config is incomplete', async () => {
    // Loaded in http mode (which does not need them), dispatched in tasks mode (run --mode tasks).
    const cfg = config('', 'queue: collectors', 'http');
    const { server, dispatcher, signal } = await setup(cfg);
    const outcomes = await dispatcher.dispatch([target(cfg, 'dvf'), target(cfg, 'sirene')], { signal });
    expect(outcomes.map((o) => o.status)).toEqual(['failed', 'failed']);
    expect(outcomes[0]!.error).toMatch(
      /^tasks mode needs scheduler\.tasks\.project, scheduler\.tasks\.location, scheduler\.tasks\.service_account_email/,
    );
    expect(server.requests).toHaveLength(0);
  });

  it('fails with a clear message, and no unhandled rejection, without Google credentials', async () => {
    const cfg = config();
    const dispatcher = dispatcherWith(cfg);
    const [outcome] = await dispatcher.dispatch([target(cfg, 'dvf')], {
      signal: new AbortController().signal,
    });
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'AuthError' });
    expect(outcome!.error).toMatch(/Cloud Tasks client unavailable: no Google credentials/);
  });

  it('stops at the execution deadline', async () => {
    const cfg = config();
    const { server, dispatcher } = await setup(cfg);
    const controller = new AbortController();
    controller.abort(new Error('execution deadline of 500 s reached'));
    const [outcome] = await dispatcher.dispatch([target(cfg, 'dvf')], { signal: controller.signal });
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'Timeout' });
    expect(outcome!.error).toMatch(/execution deadline of 500 s reached before the Cloud Task was created/);
    expect(server.requests).toHaveLength(0);
  });
});

function withBearer(cfg: Config): Config {
  return { ...cfg, scheduler: { ...cfg.scheduler, auth: { type: 'bearer', tokenEnv: 'TOKEN' } } };
}

describe('Cloud Tasks errors from either transport', () => {
  it.each([
    ['gRPC ALREADY_EXISTS', { code: 6 }, true, false],
    ['REST 409 (GaxiosError)', { code: 409 }, true, false],
    ['gRPC UNAVAILABLE', { code: 14 }, false, true],
    ['REST 503', { code: 503 }, false, true],
    ['gRPC DEADLINE_EXCEEDED', { code: 4 }, false, true],
    ['REST 504', { code: 504 }, false, true],
    ['gRPC NOT_FOUND', { code: 5 }, false, false],
    ['REST 403', { code: 403 }, false, false],
    ['no code', new Error('socket hang up'), false, false],
  ])('%s', (_name, error, exists, retryable) => {
    expect(isAlreadyExists(error)).toBe(exists);
    expect(isRetryableRpc(error)).toBe(retryable);
  });

  it('describes an error by its status name, without repeating gRPC message prefixes', () => {
    expect(
      describeRpcError(
        Object.assign(new Error('5 NOT_FOUND: Queue does not exist.'), {
          code: 5,
          details: 'Queue does not exist.',
        }),
      ),
    ).toBe('NOT_FOUND: Queue does not exist.');
    expect(
      describeRpcError(Object.assign(new Error('Request failed with status code 409'), { code: 409 })),
    ).toBe('ALREADY_EXISTS: Request failed with status code 409');
  });
});
