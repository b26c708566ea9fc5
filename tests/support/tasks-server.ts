/**
 * A Cloud Tasks server for tests: the real `google.cloud.tasks.v2.CloudTasks` gRPC service (loaded from
 * the protos shipped in @google-cloud/tasks) on an ephemeral loopback port, which stores tasks and really
 * dispatches their HTTP requests, the way Cloud Tasks does where our scheduler can tell the difference:
 *
 * - CreateTask validates what the real service validates (task ID charset, name/queue mismatch,
 *   dispatchDeadline 15 s–30 min, URL scheme, 30-day schedule horizon, size), refuses a duplicate name with
 *   ALREADY_EXISTS (code 6), also for ~1 h after the task completed, failed or was deleted, assigns an ID
 *   when none is given, and answers NOT_FOUND for a missing queue (unless `autoCreateQueues`). Error texts
 *   are the ones real Cloud Tasks returns (as recorded by aertje/cloud-tasks-emulator's conformance runs).
 * - Each task is sent to `httpRequest.url` at its scheduleTime (at once if absent or past) with its method,
 *   headers and body, `User-Agent: Google-Cloud-Tasks`, the `X-CloudTasks-*` headers and, for an
 *   `oidcToken`, `Authorization: Bearer <mintIdToken(audience || url, {email})>` (or the token the
 *   `oidcToken` option makes, for targets that verify signatures). Each attempt is cut off at the task's
 *   dispatchDeadline (default 10 min). At most `maxConcurrentDispatches` attempts per queue
 *   are in flight, starts are limited by a token bucket (`maxDispatchesPerSecond`, burst 100). A 2xx
 *   completes the task; anything else (any other status, a connection error, the deadline) is retried
 *   after the queue's backoff (minBackoff doubled maxDoublings times, then linear, capped at maxBackoff)
 *   until maxAttempts (and maxRetryDuration), then the task fails. Completed and failed tasks leave the
 *   queue (GetTask: NOT_FOUND) but stay in `server.tasks` for assertions.
 * - Only loopback targets are dispatched to unless `allowNonLoopbackTargets`; `routeUrl` can send a
 *   production-looking URL to a loopback server (the OIDC audience stays the task's own URL).
 *
 * Time: every wait (scheduleTime, backoff, rate limit, dispatch deadline) goes through `clock`
 * (default `realClock`) after being multiplied by `timeScale` (default 1). A FakeClock
 * (tests/support/fake-clock.ts) gives exact timings: one that advances itself on sleeps makes backoffs
 * and scheduleTimes pass at once while deadlines fire only on `advance()`; one that does not moves only
 * on `advance()` (then more than 100 tasks in a burst also wait for it, through the rate limit).
 * `timeScale: 0.001` runs real time 1000x faster instead. Timestamps in records (`startedAt`, `endedAt`,
 * tombstones, createTime) are `clock.now()`; backoffs in records are nominal (unscaled).
 * Proto3 cannot carry a zero, so a queue setting of 0 means its default (maxAttempts 0 gives 100).
 *
 * Synchronisation: `waitFor(predicate)` re-checks after every state change (gRPC call, attempt start and
 * end, retry scheduled, task finished); `waitForTask(name)`, `waitForIdle()`; records in `tasks`,
 * `attempts` (one per HTTP attempt) and `requests` (every gRPC call with its decoded request).
 *
 * Usage:
 *   const tasks = await startTasksServer({ queues: { 'data-collectors': { maxConcurrentDispatches: 2,
 *     maxAttempts: 3, minBackoffSeconds: 1 } }, clock: new FakeClock() });
 *   const client = new CloudTasksClient(tasksClientOptions(tasks));   // or tasksClientOptions('host:port')
 *   ... the code under test creates tasks with `client` ...
 *   const record = await tasks.waitForTask('dvf-20261122-0200');      // full name or task ID
 *   expect(record.attempts.map((a) => a.status)).toEqual([503, 200]);
 *   await tasks.waitForIdle(); tasks.maxConcurrency('data-collectors'); tasks.requests[0].request.task;
 *   await client.close(); await tasks.close();
 *
 * Not modelled: App Engine targets (UNIMPLEMENTED), IAM methods (UNIMPLEMENTED), ListQueues filters,
 * Retry-After and 429/503 rate reduction, the DISABLED queue state. RunTask dispatches at once, ignoring
 * pause and limits, like the real one (so it can exceed maxConcurrentDispatches).
 *
 * CLOUD_TASKS_EMULATOR_HOST: neither @google-cloud/tasks 6.3.0 nor google-gax 5.0.8 reads it (no
 * `EMULATOR` anywhere in their build output; the client's only env var is GOOGLE_CLOUD_UNIVERSE_DOMAIN,
 * gax's own code reads none, google-auth-library reads the ADC ones, grpc-js grpc_proxy/http_proxy/
 * no_proxy). With it set, a default `new CloudTasksClient()` still targets cloudtasks.googleapis.com:443
 * with ADC credentials (the test "the client ignores CLOUD_TASKS_EMULATOR_HOST" pins this). Our code
 * must map it itself: `tasksClientOptions('host:port')` below is that mapping.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { randomInt } from 'node:crypto';
import * as protoLoader from '@grpc/proto-loader';
import type { CloudTasksClient } from '@google-cloud/tasks';
// The @grpc/grpc-js copy google-gax (and so the Tasks client) uses.
import { grpc } from 'google-gax';
import { mintIdToken } from './id-tokens';

// ---------------------------------------------------------------------------------------------------
// Messages as decoded by @grpc/proto-loader ({ longs: String, enums: String, oneofs: true }).

export interface Timestamp {
  seconds?: string | number;
  nanos?: number;
}
export type Duration = Timestamp;
export const HTTP_METHODS = ['POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface OidcTokenMessage {
  serviceAccountEmail?: string;
  audience?: string;
}
export interface OAuthTokenMessage {
  serviceAccountEmail?: string;
  scope?: string;
}
export interface HttpRequestMessage {
  url?: string;
  httpMethod?: HttpMethod | 'HTTP_METHOD_UNSPECIFIED';
  headers?: Record<string, string>;
  body?: Buffer;
  oidcToken?: OidcTokenMessage;
  oauthToken?: OAuthTokenMessage;
  authorizationHeader?: 'oidcToken' | 'oauthToken';
}
export interface RpcStatusMessage {
  code?: number;
  message?: string;
}
export interface AttemptMessage {
  scheduleTime?: Timestamp;
  dispatchTime?: Timestamp;
  responseTime?: Timestamp;
  responseStatus?: RpcStatusMessage;
}
export type TaskView = 'VIEW_UNSPECIFIED' | 'BASIC' | 'FULL';
export interface TaskMessage {
  name?: string;
  httpRequest?: HttpRequestMessage;
  appEngineHttpRequest?: Record<string, unknown>;
  messageType?: 'httpRequest' | 'appEngineHttpRequest';
  scheduleTime?: Timestamp;
  createTime?: Timestamp;
  dispatchDeadline?: Duration;
  dispatchCount?: number;
  responseCount?: number;
  firstAttempt?: AttemptMessage;
  lastAttempt?: AttemptMessage;
  view?: TaskView;
}
export interface RateLimitsMessage {
  maxDispatchesPerSecond?: number;
  maxBurstSize?: number;
  maxConcurrentDispatches?: number;
}
export interface RetryConfigMessage {
  maxAttempts?: number;
  maxRetryDuration?: Duration;
  minBackoff?: Duration;
  maxBackoff?: Duration;
  maxDoublings?: number;
}
export type QueueStateName = 'STATE_UNSPECIFIED' | 'RUNNING' | 'PAUSED' | 'DISABLED';
export interface QueueMessage {
  name?: string;
  rateLimits?: RateLimitsMessage;
  retryConfig?: RetryConfigMessage;
  state?: QueueStateName;
  purgeTime?: Timestamp;
  stackdriverLoggingConfig?: { samplingRatio?: number };
}
/** The union of the CloudTasks request messages' fields. */
export interface TasksRequestMessage {
  parent?: string;
  name?: string;
  task?: TaskMessage;
  queue?: QueueMessage;
  updateMask?: { paths?: string[] };
  responseView?: TaskView;
  pageSize?: number;
  pageToken?: string;
  filter?: string;
}

// ---------------------------------------------------------------------------------------------------
// Time.

/**
 * What the server needs of a clock. src/util/clock's `systemClock` and tests/support/fake-clock's
 * `FakeClock` fit (either with `schedule`, or the older `timeout`). Deadlines use `schedule`/`timeout`, not
 * `sleep`, so a FakeClock that advances itself on sleeps does not fire them early.
 */
export interface TasksClock {
  now(): number;
  /** Resolves after `ms` of this clock's time; rejects if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` after `ms` of this clock's time; the returned function cancels it. */
  schedule?(ms: number, fn: () => void): () => void;
  /** A signal that aborts after `ms` of this clock's time. */
  timeout?(ms: number, reason: unknown): { signal: AbortSignal; clear(): void };
}

/** Real time; timers are cancelled by `close()` (through their signals), so none outlives the server. */
export const realClock: TasksClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  schedule: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

function deadlineSignal(clock: TasksClock, ms: number): { signal: AbortSignal; clear(): void } {
  if (clock.schedule) {
    const controller = new AbortController();
    const cancel = clock.schedule(ms, () => controller.abort(new Error('dispatch deadline')));
    return { signal: controller.signal, clear: cancel };
  }
  if (clock.timeout) return clock.timeout(ms, new Error('dispatch deadline'));
  throw new Error('tasks server: the clock needs schedule() or timeout() for dispatch deadlines');
}

// ---------------------------------------------------------------------------------------------------
// Public records and options.

export const TASK_STATES = ['scheduled', 'dispatching', 'succeeded', 'failed', 'deleted'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const ATTEMPT_OUTCOMES = [
  'in-flight',
  'success',
  'http-error',
  'timeout',
  'connection-error',
  'cancelled',
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export interface AttemptRecord {
  /** Full task name. */
  taskName: string;
  /** Full queue name. */
  queue: string;
  /** 1-based. */
  attempt: number;
  outcome: AttemptOutcome;
  /** HTTP status, null when no response arrived (yet). */
  status: number | null;
  /** `clock.now()` when the request was started / when it ended (for a timeout: when the deadline fired). */
  startedAt: number;
  endedAt: number | null;
  /** e.g. `DEADLINE_EXCEEDED: ...`, `UNAVAILABLE: connect ECONNREFUSED ...`, `HTTP 503`. */
  error: string | null;
  /** Nominal delay before the next attempt (unscaled ms), null when none follows. */
  backoffMs: number | null;
  /** Forced by RunTask. */
  forced: boolean;
  /** What was sent (the URL after `routeUrl`). */
  request: { url: string; method: string; headers: Record<string, string>; body: Buffer };
  /** The start of the response body (up to 4 KiB). */
  responseBody: string | null;
}

export interface TaskRecord {
  name: string;
  /** The short task ID (what X-CloudTasks-TaskName carries). */
  id: string;
  queue: string;
  state: TaskState;
  /** The stored task (FULL view), kept up to date (dispatchCount, lastAttempt...). */
  task: TaskMessage;
  createdAt: number;
  finishedAt: number | null;
  attempts: AttemptRecord[];
}

export interface GrpcCallRecord {
  /** e.g. `CreateTask`. */
  method: string;
  request: TasksRequestMessage;
  metadata: Record<string, string>;
  at: number;
  /** The gRPC status code answered (0 = OK). */
  code: number;
  details: string | null;
}

/** Queue settings in test-friendly units; every one optional (Cloud Tasks defaults apply). */
export interface QueueSettings {
  maxConcurrentDispatches?: number;
  maxDispatchesPerSecond?: number;
  /** -1 = unlimited. */
  maxAttempts?: number;
  minBackoffSeconds?: number;
  maxBackoffSeconds?: number;
  maxDoublings?: number;
  /** 0 = unlimited. */
  maxRetryDurationSeconds?: number;
  paused?: boolean;
}

export interface TasksServerOptions {
  /** For `queuePath()` and the helpers taking a short queue ID. @default GOOGLE_CLOUD_PROJECT or 'test-project' */
  project?: string;
  /** @default 'us-central1' */
  location?: string;
  /** Queues created at start, by ID (or full name). */
  queues?: Record<string, QueueSettings>;
  /** Create a missing queue on CreateTask (with these settings when an object) instead of NOT_FOUND. */
  autoCreateQueues?: boolean | QueueSettings;
  /** Time source and timers. @default realClock */
  clock?: TasksClock;
  /** Multiplies every wait handed to the clock (scheduleTime, backoff, deadline, rate limit). @default 1 */
  timeScale?: number;
  /** How long a finished or deleted task's name stays reserved, in clock time. @default 3600 (1 h) */
  tombstoneSeconds?: number;
  /** How long a deleted queue's name stays reserved. @default 7 days */
  queueTombstoneSeconds?: number;
  /** Rewrites a task's URL before dispatch (e.g. a production URL to a loopback server). */
  routeUrl?: (url: URL) => string | URL;
  /** Dispatch to non-loopback hosts too. @default false: such an attempt fails without a request. */
  allowNonLoopbackTargets?: boolean;
  /**
   * Makes the OIDC token of an `oidcToken` task (a test's own signing key, for a target that verifies
   * signatures). @default mintIdToken: unsigned, for targets that only read the claims
   */
  oidcToken?: (audience: string, email: string | undefined) => string;
  /** Default real-time limit of `waitFor*`. @default 20000 */
  waitTimeoutMs?: number;
  /**
   * Real milliseconds before each gRPC call is answered (a server farther than loopback), so that calls
   * overlap and `maxCallsInFlight` measures a client's concurrency. @default 0
   */
  answerDelayMs?: number;
}

export interface WaitOptions {
  /** Real milliseconds before the wait rejects with a description of the server's state. */
  timeoutMs?: number;
  /** Named in the timeout error. */
  description?: string;
}

/** Cloud Tasks' defaults for a queue created without settings (documented in the RateLimits/RetryConfig docs). */
export const QUEUE_DEFAULTS = Object.freeze({
  maxDispatchesPerSecond: 500,
  maxBurstSize: 100,
  maxConcurrentDispatches: 1000,
  maxAttempts: 100,
  minBackoffMs: 100,
  maxBackoffMs: 3_600_000,
  maxDoublings: 16,
  maxRetryDurationMs: 0,
});
/** HTTP tasks: default deadline 10 min, allowed [15 s, 30 min]. */
export const DISPATCH_DEADLINE_MS = Object.freeze({ default: 600_000, min: 15_000, max: 1_800_000 });
const SCHEDULE_HORIZON_MS = 30 * 24 * 3600_000;
const MAX_TASK_BYTES = 1024 * 1024;
const QUEUE_NOT_FOUND =
  'Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize.';
const TASK_NOT_FOUND = 'Requested entity was not found.';
const TASK_GONE =
  'The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted.';

const QUEUE_NAME = /^projects\/([A-Za-z0-9.:-]+)\/locations\/([A-Za-z0-9-]+)\/queues\/([^/]+)$/;
const QUEUE_ID = /^[A-Za-z0-9-]{1,100}$/;
const TASK_NAME =
  /^(projects\/[A-Za-z0-9.:-]+\/locations\/[A-Za-z0-9-]+\/queues\/[A-Za-z0-9-]+)\/tasks\/(.+)$/;
const TASK_ID = /^[A-Za-z0-9_-]{1,500}$/;

/**
 * Delay before retry number `retry` (0 = the one after the first failed attempt), in ms: minBackoff
 * doubled `maxDoublings` times, then growing linearly by that last step, capped at maxBackoff (the
 * RetryConfig docs' example: 10 s, 300 s, 3 doublings gives 10, 20, 40, 80, 160, 240, 300, 300...).
 */
export function cloudTasksBackoffMs(
  retry: number,
  config: { minBackoffMs: number; maxBackoffMs: number; maxDoublings: number },
): number {
  const { minBackoffMs, maxBackoffMs, maxDoublings } = config;
  const delay =
    retry <= maxDoublings
      ? minBackoffMs * 2 ** retry
      : minBackoffMs * 2 ** maxDoublings * (retry - maxDoublings + 1);
  return Math.min(maxBackoffMs, delay);
}

// ---------------------------------------------------------------------------------------------------
// Client options.

type CloudTasksClientOptions = NonNullable<ConstructorParameters<typeof CloudTasksClient>[0]>;

/**
 * Options for `new CloudTasksClient(...)` against this server, or against any `host:port` (what our code
 * must do with CLOUD_TASKS_EMULATOR_HOST, which the client ignores): plaintext gRPC, no credential
 * lookup (`sslCreds`), no metadata-server probe (`universeDomain`).
 */
export function tasksClientOptions(target: { host: string; port: number } | string): CloudTasksClientOptions {
  const { host, port } = typeof target === 'string' ? parseHostPort(target) : target;
  return {
    apiEndpoint: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
  };
}

function parseHostPort(hostPort: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort.trim());
  if (!match) throw new Error(`Expected host:port (e.g. 127.0.0.1:8123), got "${hostPort}"`);
  return { host: match[1]!, port: Number(match[2]) };
}

// ---------------------------------------------------------------------------------------------------
// Internals.

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
const S = grpc.status;
const invalid = (message: string) => new RpcError(S.INVALID_ARGUMENT, message);

interface QueueConfig {
  maxDispatchesPerSecond: number;
  maxBurstSize: number;
  maxConcurrentDispatches: number;
  maxAttempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  maxDoublings: number;
  maxRetryDurationMs: number;
}

interface Queue {
  name: string;
  config: QueueConfig;
  state: 'RUNNING' | 'PAUSED';
  purgeTime: number | null;
  stackdriverLoggingConfig: { samplingRatio?: number } | null;
  active: Set<Entry>;
  inFlight: number;
  maxInFlight: number;
  tokens: number;
  tokensAt: number;
  rateWake: AbortController | null;
}

interface Entry {
  record: TaskRecord;
  queue: Queue;
  seq: number;
  /** Nominal due time (clock ms) of the next attempt. */
  dueAt: number;
  /** The due time has been reached (waits are scaled, so `dueAt <= now` is not the test). */
  ready: boolean;
  wait: AbortController | null;
}

interface Waiter {
  predicate: (server: TasksServer) => boolean;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

type Handler = (request: TasksRequestMessage) => object;

let packageDefinition: protoLoader.PackageDefinition | null = null;

function cloudTasksService(): grpc.ServiceDefinition {
  if (!packageDefinition) {
    // The package's exports map hides build/protos; resolve it from the main entry (build/cjs/src/index.cjs).
    const file = path.join(require.resolve('@google-cloud/tasks'), '../../../protos/protos.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Parameters<typeof protoLoader.fromJSON>[0];
    packageDefinition = protoLoader.fromJSON(json, { longs: String, enums: String, oneofs: true });
  }
  const root = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    google: { cloud: { tasks: { v2: { CloudTasks: { service: grpc.ServiceDefinition } } } } };
  };
  return root.google.cloud.tasks.v2.CloudTasks.service;
}

const msOf = (t: Timestamp | null | undefined): number | null =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : null;
const stampOf = (ms: number): Timestamp => ({
  seconds: String(Math.floor(ms / 1000)),
  nanos: (((ms % 1000) + 1000) % 1000) * 1e6,
});
const secondsOf = (ms: number) => `${Math.round(ms) / 1000}s`;
const isLoopback = (hostname: string) =>
  hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\./.test(hostname);
const shortName = (name: string) => name.slice(name.lastIndexOf('/') + 1);
const clone = <T>(value: T): T => structuredClone(value);

/** HTTP status to the google.rpc code Cloud Tasks reports in `lastAttempt.responseStatus`. */
function rpcCodeOfHttp(status: number): number {
  if (status >= 200 && status < 300) return S.OK;
  const table: Record<number, number> = {
    400: S.INVALID_ARGUMENT,
    401: S.UNAUTHENTICATED,
    403: S.PERMISSION_DENIED,
    404: S.NOT_FOUND,
    409: S.ABORTED,
    429: S.RESOURCE_EXHAUSTED,
    499: S.CANCELLED,
    501: S.UNIMPLEMENTED,
    503: S.UNAVAILABLE,
    504: S.DEADLINE_EXCEEDED,
  };
  return table[status] ?? (status >= 500 ? S.INTERNAL : S.FAILED_PRECONDITION);
}

function sendHttp(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer,
  signal: AbortSignal,
  agents: { http: http.Agent; https: https.Agent },
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { method, headers, signal };
    const req =
      url.protocol === 'https:'
        ? https.request(url, { ...options, agent: agents.https, rejectUnauthorized: false })
        : http.request(url, { ...options, agent: agents.http });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 4096) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error('response aborted before its end'));
      });
    });
    req.on('error', reject);
    req.end(body.length > 0 ? body : undefined);
  });
}

// ---------------------------------------------------------------------------------------------------
// The server.

export class TasksServer {
  readonly host = '127.0.0.1';
  readonly project: string;
  readonly location: string;
  /** Every task ever created, in creation order (finished and deleted ones included). */
  readonly tasks: TaskRecord[] = [];
  /** Every HTTP attempt, in start order. */
  readonly attempts: AttemptRecord[] = [];
  /** Every gRPC call received, in order. */
  readonly requests: GrpcCallRecord[] = [];
  /** gRPC calls received and not yet answered; the most there ever were at once. */
  callsInFlight = 0;
  maxCallsInFlight = 0;

  private readonly clock: TasksClock;
  private readonly timeScale: number;
  private readonly tombstoneMs: number;
  private readonly queueTombstoneMs: number;
  private readonly waitTimeoutMs: number;
  private readonly queues = new Map<string, Queue>();
  private readonly entries = new Map<string, Entry>();
  private readonly taskTombstones = new Map<string, number>();
  private readonly queueTombstones = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private readonly dispatches = new Set<Promise<void>>();
  private readonly injected: { method: string; code: number; details: string; times: number }[] = [];
  private readonly closing = new AbortController();
  private readonly agents = {
    http: new http.Agent({ keepAlive: false }),
    https: new https.Agent({ keepAlive: false }),
  };
  private readonly grpcServer = new grpc.Server();
  private seq = 0;
  private boundPort = 0;
  private closePromise: Promise<void> | null = null;

  constructor(private readonly options: TasksServerOptions = {}) {
    this.project = options.project ?? process.env.GOOGLE_CLOUD_PROJECT ?? 'test-project';
    this.location = options.location ?? 'us-central1';
    this.clock = options.clock ?? realClock;
    this.timeScale = options.timeScale ?? 1;
    if (!(this.timeScale > 0))
      throw new Error(`Expected \`timeScale\` to be a positive number, got ${this.timeScale}`);
    this.tombstoneMs = (options.tombstoneSeconds ?? 3600) * 1000;
    this.queueTombstoneMs = (options.queueTombstoneSeconds ?? 7 * 24 * 3600) * 1000;
    this.waitTimeoutMs = options.waitTimeoutMs ?? 20_000;
    for (const [id, settings] of Object.entries(options.queues ?? {})) this.createQueue(id, settings);
  }

  /** Binds 127.0.0.1 on an ephemeral port. */
  async listen(): Promise<this> {
    const handlers: Record<string, Handler> = {
      CreateTask: (r) => this.rpcCreateTask(r),
      GetTask: (r) => this.rpcGetTask(r),
      ListTasks: (r) => this.rpcListTasks(r),
      DeleteTask: (r) => this.rpcDeleteTask(r),
      RunTask: (r) => this.rpcRunTask(r),
      CreateQueue: (r) => this.rpcCreateQueue(r),
      GetQueue: (r) => this.renderQueue(this.requireQueue(r.name)),
      ListQueues: (r) => this.rpcListQueues(r),
      UpdateQueue: (r) => this.rpcUpdateQueue(r),
      DeleteQueue: (r) => this.rpcDeleteQueue(r),
      PurgeQueue: (r) => this.rpcPurgeQueue(r),
      PauseQueue: (r) => this.setQueueState(r.name, 'PAUSED'),
      ResumeQueue: (r) => this.setQueueState(r.name, 'RUNNING'),
    };
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(handlers)) {
      implementation[method] = (
        call: grpc.ServerUnaryCall<TasksRequestMessage, object>,
        callback: grpc.sendUnaryData<object>,
      ) => this.handle(method, handler, call, callback);
    }
    this.grpcServer.addService(cloudTasksService(), implementation);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.grpcServer.bindAsync(`${this.host}:0`, grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    return this;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `127.0.0.1:PORT`, the shape of CLOUD_TASKS_EMULATOR_HOST. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  queuePath(queueId: string): string {
    return queueId.includes('/')
      ? queueId
      : `projects/${this.project}/locations/${this.location}/queues/${queueId}`;
  }

  taskPath(queueId: string, taskId: string): string {
    return `${this.queuePath(queueId)}/tasks/${taskId}`;
  }

  // ---- test-side helpers (no gRPC) ----

  /** Creates (or replaces the settings of) a queue directly. Returns it as GetQueue would. */
  createQueue(queueId: string, settings: QueueSettings = {}): QueueMessage {
    const name = this.queuePath(queueId);
    const existing = this.queues.get(name);
    const config = this.validateConfig(settingsToConfig(settings, existing?.config ?? QUEUE_DEFAULTS));
    if (existing) {
      existing.config = config;
      if (settings.paused !== undefined) existing.state = settings.paused ? 'PAUSED' : 'RUNNING';
      this.pump(existing);
    } else {
      this.addQueue(name, config, settings.paused ? 'PAUSED' : 'RUNNING');
    }
    this.changed();
    return this.renderQueue(this.queues.get(name)!);
  }

  /** The queue as GetQueue would return it, or undefined. */
  queue(queueId: string): QueueMessage | undefined {
    const queue = this.queues.get(this.queuePath(queueId));
    return queue ? this.renderQueue(queue) : undefined;
  }

  /** A task record by full name or short ID (the latest with that ID). */
  task(nameOrId: string): TaskRecord | undefined {
    for (let i = this.tasks.length - 1; i >= 0; i--) {
      const record = this.tasks[i]!;
      if (record.name === nameOrId || record.id === nameOrId) return record;
    }
    return undefined;
  }

  /** Attempts of one task (full name or short ID). */
  attemptsOf(nameOrId: string): AttemptRecord[] {
    return this.task(nameOrId)?.attempts ?? [];
  }

  /** Attempts in flight now in a queue (ID or full name). */
  inFlight(queueId: string): number {
    return this.queues.get(this.queuePath(queueId))?.inFlight ?? 0;
  }

  /** The most attempts ever in flight at once in a queue (ID or full name). */
  maxConcurrency(queueId: string): number {
    return this.queues.get(this.queuePath(queueId))?.maxInFlight ?? 0;
  }

  /** Makes the next `times` calls of `method` (e.g. 'CreateTask') fail with `code` before doing anything. */
  failNext(method: string, code: number, details = 'injected failure', times = 1): void {
    this.injected.push({ method, code, details, times });
  }

  /** Resolves once `predicate` holds, re-checking after every change in this server. */
  waitFor(predicate: (server: TasksServer) => boolean, options: WaitOptions = {}): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    if (this.closePromise) return Promise.reject(new Error('tasks server: waitFor after close()'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { predicate, resolve, reject, timer: null };
      const timeoutMs = options.timeoutMs ?? this.waitTimeoutMs;
      if (Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(() => {
          this.waiters.delete(waiter);
          reject(
            new Error(
              `tasks server: ${options.description ?? 'waitFor'} not reached after ${timeoutMs} ms. ${this.describe()}`,
            ),
          );
        }, timeoutMs);
      }
      this.waiters.add(waiter);
    });
  }

  /** Resolves with the task's record once it succeeded, failed or was deleted. */
  async waitForTask(nameOrId: string, options: WaitOptions = {}): Promise<TaskRecord> {
    const finished = () => {
      const state = this.task(nameOrId)?.state;
      return state === 'succeeded' || state === 'failed' || state === 'deleted';
    };
    await this.waitFor(finished, { description: `task ${nameOrId} finished`, ...options });
    return this.task(nameOrId)!;
  }

  /** Resolves when no task is waiting or in flight (a paused queue's tasks keep it busy). */
  waitForIdle(options: WaitOptions = {}): Promise<void> {
    return this.waitFor(() => this.entries.size === 0, { description: 'idle', ...options });
  }

  /** Stops dispatching (in-flight requests are aborted, as 'cancelled'), closes gRPC and HTTP sockets. */
  close(): Promise<void> {
    if (!this.closePromise) {
      this.closing.abort(new Error('tasks server closed'));
      for (const waiter of this.waiters) {
        if (waiter.timer) clearTimeout(waiter.timer);
        waiter.reject(new Error(`tasks server closed while waiting. ${this.describe()}`));
      }
      this.waiters.clear();
      this.closePromise = (async () => {
        // Graceful: every handler answers synchronously, so no call is pending and sessions close at
        // once; a client that never closes gets its session destroyed after a second.
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => this.grpcServer.forceShutdown(), 1000);
          this.grpcServer.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
        await Promise.allSettled([...this.dispatches]);
        this.agents.http.destroy();
        this.agents.https.destroy();
      })();
    }
    return this.closePromise;
  }

  /** One line per queue and unfinished task, for failure messages. */
  describe(): string {
    const queues = [...this.queues.values()].map(
      (q) =>
        `${shortName(q.name)} (${q.state}, ${q.inFlight} in flight, max ${q.config.maxConcurrentDispatches}): ${q.active.size} unfinished`,
    );
    const tasks = [...this.entries.values()].slice(0, 10).map((e) => {
      const attempts = e.record.attempts.map((a) => a.status ?? a.outcome).join(',');
      return `${e.record.id} ${e.record.state} [${attempts}]`;
    });
    return `Queues: ${queues.join('; ') || 'none'}. Unfinished tasks: ${tasks.join('; ') || 'none'}. Attempts: ${this.attempts.length}.`;
  }

  // ---- gRPC plumbing ----

  private handle(
    method: string,
    handler: Handler,
    call: grpc.ServerUnaryCall<TasksRequestMessage, object>,
    callback: grpc.sendUnaryData<object>,
  ): void {
    const metadata: Record<string, string> = {};
    for (const [key, value] of Object.entries(call.metadata.getMap())) metadata[key] = String(value);
    const record: GrpcCallRecord = {
      method,
      request: call.request,
      metadata,
      at: this.clock.now(),
      code: S.OK,
      details: null,
    };
    this.requests.push(record);
    const delayMs = this.options.answerDelayMs ?? 0;
    if (delayMs > 0) {
      this.callsInFlight++;
      this.maxCallsInFlight = Math.max(this.maxCallsInFlight, this.callsInFlight);
      setTimeout(() => {
        this.callsInFlight--;
        this.answer(method, handler, call, callback, record);
      }, delayMs);
      return;
    }
    this.maxCallsInFlight = Math.max(this.maxCallsInFlight, 1);
    this.answer(method, handler, call, callback, record);
  }

  private answer(
    method: string,
    handler: Handler,
    call: grpc.ServerUnaryCall<TasksRequestMessage, object>,
    callback: grpc.sendUnaryData<object>,
    record: GrpcCallRecord,
  ): void {
    try {
      const injected = this.injected.find((i) => i.method === method && i.times > 0);
      if (injected) {
        injected.times--;
        throw new RpcError(injected.code, injected.details);
      }
      const response = handler(call.request);
      callback(null, response);
    } catch (error) {
      const rpc = error instanceof RpcError ? error : new RpcError(S.INTERNAL, String(error));
      record.code = rpc.code;
      record.details = rpc.message;
      callback({ code: rpc.code, details: rpc.message });
    }
    this.changed();
  }

  // ---- tasks ----

  private rpcCreateTask(request: TasksRequestMessage): TaskMessage {
    const parent = request.parent ?? '';
    if (!QUEUE_NAME.test(parent)) {
      throw invalid(
        'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".',
      );
    }
    const input = request.task;
    if (!input) throw invalid('Task is required.');
    let name = input.name ?? '';
    if (name) {
      const match = TASK_NAME.exec(name);
      if (!match) {
        throw invalid(
          'Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>/tasks/<TASK_ID>"',
        );
      }
      if (match[1] !== parent) {
        throw invalid(
          `The queue name from request ('${parent}') must be the same as the queue name in the named task ('${match[1]}').`,
        );
      }
      if (!TASK_ID.test(match[2]!)) {
        throw invalid(
          `Task ID "${match[2]}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`,
        );
      }
    }
    const now = this.clock.now();
    const task = this.validateTask(input, now);
    let queue = this.queues.get(parent);
    if (!queue) {
      const auto = this.options.autoCreateQueues;
      if (!auto || this.recentlyDeleted(this.queueTombstones, parent, this.queueTombstoneMs)) {
        throw new RpcError(S.NOT_FOUND, QUEUE_NOT_FOUND);
      }
      queue = this.addQueue(parent, settingsToConfig(auto === true ? {} : auto, QUEUE_DEFAULTS), 'RUNNING');
    }
    if (
      name &&
      (this.entries.has(name) || this.recentlyDeleted(this.taskTombstones, name, this.tombstoneMs))
    ) {
      throw new RpcError(S.ALREADY_EXISTS, 'Requested entity already exists');
    }
    while (!name || this.entries.has(name) || this.taskTombstones.has(name)) {
      name = `${parent}/tasks/${randomInt(1, 2 ** 47)}${String(randomInt(0, 1e6)).padStart(6, '0')}`;
    }
    task.name = name;
    task.createTime = stampOf(Math.floor(now / 1000) * 1000);
    const dueAt = msOf(task.scheduleTime) ?? now;
    task.scheduleTime = stampOf(dueAt);
    const record: TaskRecord = {
      name,
      id: shortName(name),
      queue: parent,
      state: 'scheduled',
      task,
      createdAt: now,
      finishedAt: null,
      attempts: [],
    };
    const entry: Entry = { record, queue, seq: this.seq++, dueAt, ready: false, wait: null };
    this.tasks.push(record);
    this.entries.set(name, entry);
    queue.active.add(entry);
    // Rendered before the first attempt can start, as the real service answers with the task as created.
    const response = this.renderTask(record, request.responseView);
    this.scheduleAt(entry, dueAt);
    return response;
  }

  /** The stored form of a new task, or INVALID_ARGUMENT / UNIMPLEMENTED. */
  private validateTask(input: TaskMessage, now: number): TaskMessage {
    if (input.appEngineHttpRequest) {
      throw new RpcError(
        S.UNIMPLEMENTED,
        'App Engine tasks are not supported by the loopback Cloud Tasks server.',
      );
    }
    const hr = input.httpRequest;
    if (!hr) throw invalid('Task.httpRequest is required.');
    if (!hr.url) throw invalid('HttpRequest.url is required.');
    if (!/^https?:\/\//i.test(hr.url))
      throw invalid("HttpTarget.url must start with 'http://' or 'https://'.");
    const method: HttpMethod =
      hr.httpMethod && hr.httpMethod !== 'HTTP_METHOD_UNSPECIFIED' ? hr.httpMethod : 'POST';
    const body = hr.body ?? Buffer.alloc(0);
    if (body.length > 0 && !['POST', 'PUT', 'PATCH'].includes(method)) {
      throw invalid(`HttpRequest.body is only allowed for POST, PUT and PATCH requests, not ${method}.`);
    }
    if (hr.oidcToken && !hr.oidcToken.serviceAccountEmail) {
      throw invalid('OidcToken.serviceAccountEmail is required.');
    }
    if (hr.oauthToken && !hr.oauthToken.serviceAccountEmail) {
      throw invalid('OAuthToken.serviceAccountEmail is required.');
    }
    const deadlineMs = msOf(input.dispatchDeadline);
    if (deadlineMs !== null && deadlineMs !== 0) {
      if (deadlineMs < DISPATCH_DEADLINE_MS.min || deadlineMs > DISPATCH_DEADLINE_MS.max) {
        throw invalid('Task.dispatchDeadline must be between [15s, 30m].');
      }
    }
    const scheduleMs = msOf(input.scheduleTime);
    if (scheduleMs !== null && scheduleMs > now + SCHEDULE_HORIZON_MS) {
      throw invalid(
        `The Task.scheduleTime, ${new Date(scheduleMs).toISOString().replace('.000', '')}, is too far in the future. Schedule time must be no more than 720h in the future.`,
      );
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(hr.headers ?? {})) {
      if (key.toLowerCase() !== 'user-agent') headers[key] = value;
    }
    headers['User-Agent'] = 'Google-Cloud-Tasks';
    const size =
      body.length + hr.url.length + Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (size > MAX_TASK_BYTES) throw invalid('Task size too large');
    const stored: HttpRequestMessage = { url: hr.url, httpMethod: method, headers, body };
    if (hr.oidcToken) stored.oidcToken = { ...hr.oidcToken };
    else if (hr.oauthToken) stored.oauthToken = { ...hr.oauthToken };
    return {
      httpRequest: stored,
      dispatchDeadline: input.dispatchDeadline && deadlineMs ? input.dispatchDeadline : { seconds: '600' },
      ...(input.scheduleTime ? { scheduleTime: input.scheduleTime } : {}),
      dispatchCount: 0,
      responseCount: 0,
    };
  }

  private rpcGetTask(request: TasksRequestMessage): TaskMessage {
    return this.renderTask(this.requireTask(request.name).record, request.responseView);
  }

  private rpcListTasks(request: TasksRequestMessage): object {
    const queue = this.requireQueue(request.parent);
    const all = [...queue.active].sort((a, b) => a.seq - b.seq);
    const pageSize = Math.min(request.pageSize || 1000, 1000);
    const start = Number(request.pageToken || 0);
    const page = all.slice(start, start + pageSize);
    const next = start + pageSize < all.length ? String(start + pageSize) : '';
    return { tasks: page.map((e) => this.renderTask(e.record, request.responseView)), nextPageToken: next };
  }

  private rpcDeleteTask(request: TasksRequestMessage): object {
    const entry = this.requireTask(request.name);
    this.finish(entry, 'deleted');
    return {};
  }

  private rpcRunTask(request: TasksRequestMessage): TaskMessage {
    const entry = this.requireTask(request.name);
    if (entry.record.state === 'scheduled') {
      entry.wait?.abort();
      entry.wait = null;
      this.startAttempt(entry, true);
    }
    return this.renderTask(entry.record, request.responseView);
  }

  private requireTask(name: string | undefined): Entry {
    const entry = this.entries.get(name ?? '');
    if (entry) return entry;
    if (name && this.recentlyDeleted(this.taskTombstones, name, this.tombstoneMs)) {
      throw new RpcError(S.NOT_FOUND, TASK_GONE);
    }
    throw new RpcError(S.NOT_FOUND, TASK_NOT_FOUND);
  }

  private renderTask(record: TaskRecord, view: TaskView | undefined): TaskMessage {
    const full = view === 'FULL';
    const task = clone(record.task);
    if (!full && task.httpRequest) delete task.httpRequest.body;
    task.view = full ? 'FULL' : 'BASIC';
    return task;
  }

  // ---- queues ----

  private rpcCreateQueue(request: TasksRequestMessage): QueueMessage {
    const parent = request.parent ?? '';
    const name = request.queue?.name ?? '';
    const match = QUEUE_NAME.exec(name);
    if (!match || !QUEUE_ID.test(match[3]!)) {
      throw invalid(
        'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".',
      );
    }
    if (!name.startsWith(`${parent}/queues/`)) throw invalid(`${name} must begin with ${parent}.`);
    if (this.queues.has(name)) throw new RpcError(S.ALREADY_EXISTS, 'Queue already exists');
    if (this.recentlyDeleted(this.queueTombstones, name, this.queueTombstoneMs)) {
      throw new RpcError(
        S.FAILED_PRECONDITION,
        'The queue cannot be created because a queue with this name existed too recently.',
      );
    }
    const config = this.validateConfig(messageToConfig(request.queue ?? {}, QUEUE_DEFAULTS, null));
    const queue = this.addQueue(name, config, 'RUNNING');
    queue.stackdriverLoggingConfig = request.queue?.stackdriverLoggingConfig ?? null;
    return this.renderQueue(queue);
  }

  /** Like the real one: updates the given fields (all of them without a mask) or creates the queue. */
  private rpcUpdateQueue(request: TasksRequestMessage): QueueMessage {
    const message = request.queue ?? {};
    const name = message.name ?? '';
    const match = QUEUE_NAME.exec(name);
    if (!match || !QUEUE_ID.test(match[3]!)) {
      throw invalid(
        'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".',
      );
    }
    const paths = (request.updateMask?.paths ?? []).map(camelPath);
    const known = /^(rateLimits|retryConfig|stackdriverLoggingConfig|appEngineRoutingOverride)(\.|$)/;
    const unknown = paths.find((p) => !known.test(p));
    if (unknown) throw invalid(`Invalid field mask path: "${unknown}".`);
    const existing = this.queues.get(name);
    const base = existing?.config ?? QUEUE_DEFAULTS;
    const config = this.validateConfig(messageToConfig(message, base, paths.length > 0 ? paths : null));
    if (!existing) {
      if (this.recentlyDeleted(this.queueTombstones, name, this.queueTombstoneMs)) {
        throw new RpcError(
          S.FAILED_PRECONDITION,
          'The queue cannot be created because a queue with this name existed too recently.',
        );
      }
      return this.renderQueue(this.addQueue(name, config, 'RUNNING'));
    }
    existing.config = config;
    if (message.stackdriverLoggingConfig)
      existing.stackdriverLoggingConfig = message.stackdriverLoggingConfig;
    this.pump(existing);
    return this.renderQueue(existing);
  }

  private rpcListQueues(request: TasksRequestMessage): object {
    const prefix = `${request.parent ?? ''}/queues/`;
    const all = [...this.queues.values()].filter((q) => q.name.startsWith(prefix));
    const pageSize = Math.min(request.pageSize || 9800, 9800);
    const start = Number(request.pageToken || 0);
    const next = start + pageSize < all.length ? String(start + pageSize) : '';
    return {
      queues: all.slice(start, start + pageSize).map((q) => this.renderQueue(q)),
      nextPageToken: next,
    };
  }

  private rpcDeleteQueue(request: TasksRequestMessage): object {
    const queue = this.queues.get(request.name ?? '');
    if (!queue) throw new RpcError(S.NOT_FOUND, TASK_NOT_FOUND);
    for (const entry of [...queue.active]) this.finish(entry, 'deleted');
    queue.rateWake?.abort();
    this.queues.delete(queue.name);
    this.queueTombstones.set(queue.name, this.clock.now());
    return {};
  }

  private rpcPurgeQueue(request: TasksRequestMessage): QueueMessage {
    const queue = this.requireQueue(request.name);
    for (const entry of [...queue.active]) this.finish(entry, 'deleted');
    queue.purgeTime = this.clock.now();
    return this.renderQueue(queue);
  }

  private setQueueState(name: string | undefined, state: 'RUNNING' | 'PAUSED'): QueueMessage {
    const queue = this.requireQueue(name);
    queue.state = state;
    this.pump(queue);
    return this.renderQueue(queue);
  }

  private requireQueue(name: string | undefined): Queue {
    const queue = this.queues.get(name ?? '');
    if (!queue) throw new RpcError(S.NOT_FOUND, QUEUE_NOT_FOUND);
    return queue;
  }

  private addQueue(name: string, config: QueueConfig, state: 'RUNNING' | 'PAUSED'): Queue {
    const queue: Queue = {
      name,
      config,
      state,
      purgeTime: null,
      stackdriverLoggingConfig: null,
      active: new Set(),
      inFlight: 0,
      maxInFlight: 0,
      tokens: config.maxBurstSize,
      tokensAt: this.clock.now(),
      rateWake: null,
    };
    this.queues.set(name, queue);
    this.queueTombstones.delete(name);
    return queue;
  }

  private validateConfig(config: QueueConfig): QueueConfig {
    const c = config;
    if (c.maxDispatchesPerSecond < 0) throw invalid('RateLimits.maxDispatchesPerSecond cannot be negative.');
    if (c.maxDispatchesPerSecond > 500) {
      throw invalid('RateLimits.maxDispatchesPerSecond must be less than or equal to 500.');
    }
    if (c.maxConcurrentDispatches < 0)
      throw invalid('RateLimits.maxConcurrentDispatches cannot be negative.');
    if (c.maxConcurrentDispatches > 5000) {
      throw invalid('RateLimits.maxConcurrentDispatches must be less than or equal to 5000.');
    }
    if (c.maxAttempts < -1) throw invalid('RetryConfig.maxAttempts must be greater or equal to -1.');
    if (c.maxDoublings < 0) throw invalid('RetryConfig.maxDoublings cannot be negative.');
    if (c.minBackoffMs < 0) throw invalid('RetryConfig.minBackoff cannot be negative.');
    if (c.maxBackoffMs < 0) throw invalid('RetryConfig.maxBackoff cannot be negative.');
    if (c.minBackoffMs > c.maxBackoffMs) {
      throw invalid('RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff.');
    }
    if (c.maxRetryDurationMs < 0) throw invalid('RetryConfig.maxRetryDuration cannot be negative.');
    return Object.freeze({ ...c });
  }

  private renderQueue(queue: Queue): QueueMessage {
    const c = queue.config;
    return {
      name: queue.name,
      rateLimits: {
        maxDispatchesPerSecond: c.maxDispatchesPerSecond,
        maxBurstSize: c.maxBurstSize,
        maxConcurrentDispatches: c.maxConcurrentDispatches,
      },
      retryConfig: {
        maxAttempts: c.maxAttempts,
        maxRetryDuration: stampOf(c.maxRetryDurationMs),
        minBackoff: stampOf(c.minBackoffMs),
        maxBackoff: stampOf(c.maxBackoffMs),
        maxDoublings: c.maxDoublings,
      },
      state: queue.state,
      ...(queue.purgeTime !== null ? { purgeTime: stampOf(queue.purgeTime) } : {}),
      ...(queue.stackdriverLoggingConfig ? { stackdriverLoggingConfig: queue.stackdriverLoggingConfig } : {}),
    };
  }

  private recentlyDeleted(tombstones: Map<string, number>, name: string, windowMs: number): boolean {
    const at = tombstones.get(name);
    if (at === undefined) return false;
    if (this.clock.now() - at < windowMs) return true;
    tombstones.delete(name);
    return false;
  }

  // ---- dispatch ----

  /** Waits (scaled) until `dueAt`, then lets the queue dispatch the task. */
  private scheduleAt(entry: Entry, dueAt: number): void {
    entry.dueAt = dueAt;
    entry.ready = false;
    const delay = dueAt - this.clock.now();
    if (delay <= 0) {
      entry.ready = true;
      this.pump(entry.queue);
      return;
    }
    const controller = new AbortController();
    entry.wait = controller;
    this.clock.sleep(delay * this.timeScale, AbortSignal.any([controller.signal, this.closing.signal])).then(
      () => {
        if (entry.wait !== controller) return;
        entry.wait = null;
        entry.ready = true;
        this.pump(entry.queue);
        this.changed();
      },
      () => undefined,
    );
  }

  /** Starts as many ready tasks as the queue's state, concurrency and rate limits allow. */
  private pump(queue: Queue): void {
    if (this.closePromise || queue.state !== 'RUNNING' || !this.queues.has(queue.name)) return;
    while (queue.inFlight < queue.config.maxConcurrentDispatches) {
      let next: Entry | null = null;
      for (const entry of queue.active) {
        if (entry.ready && entry.record.state === 'scheduled') {
          if (!next || entry.dueAt < next.dueAt || (entry.dueAt === next.dueAt && entry.seq < next.seq))
            next = entry;
        }
      }
      if (!next) return;
      if (!this.takeToken(queue)) return;
      this.startAttempt(next, false);
    }
  }

  /** Token bucket: `maxBurstSize` tokens refilled at `maxDispatchesPerSecond` (nominal time). */
  private takeToken(queue: Queue): boolean {
    const { maxDispatchesPerSecond: rate, maxBurstSize: burst } = queue.config;
    const now = this.clock.now();
    queue.tokens = Math.min(burst, queue.tokens + (((now - queue.tokensAt) / this.timeScale) * rate) / 1000);
    queue.tokensAt = now;
    if (queue.tokens >= 1) {
      queue.tokens -= 1;
      return true;
    }
    if (!queue.rateWake && rate > 0) {
      const controller = new AbortController();
      queue.rateWake = controller;
      const waitMs = ((1 - queue.tokens) / rate) * 1000;
      this.clock
        .sleep(waitMs * this.timeScale, AbortSignal.any([controller.signal, this.closing.signal]))
        .then(
          () => {
            queue.rateWake = null;
            this.pump(queue);
          },
          () => undefined,
        );
    }
    return false;
  }

  private startAttempt(entry: Entry, forced: boolean): void {
    const { record, queue } = entry;
    const task = record.task;
    const hr = task.httpRequest!;
    const now = this.clock.now();
    const attemptNo = record.attempts.length + 1;
    const previous = record.attempts[record.attempts.length - 1];
    const body = hr.body ?? Buffer.alloc(0);
    const headers: Record<string, string> = {};
    const reserved =
      /^(host|content-length|user-agent|authorization|x-cloudtasks-.*|x-google-.*|x-appengine-.*)$/i;
    for (const [key, value] of Object.entries(hr.headers ?? {})) {
      if (!reserved.test(key) || (key.toLowerCase() === 'authorization' && !hr.authorizationHeader)) {
        headers[key] = value;
      }
    }
    if (body.length > 0 && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/octet-stream';
    }
    headers['Content-Length'] = String(body.length);
    headers['User-Agent'] = 'Google-Cloud-Tasks';
    const eta = msOf(task.scheduleTime) ?? now;
    headers['X-CloudTasks-QueueName'] = shortName(queue.name);
    headers['X-CloudTasks-TaskName'] = record.id;
    headers['X-CloudTasks-TaskRetryCount'] = String(attemptNo - 1);
    // Responses other than 5xx, as real Cloud Tasks counts them for HTTP targets.
    headers['X-CloudTasks-TaskExecutionCount'] = String(
      record.attempts.filter((a) => a.status !== null && a.status < 500).length,
    );
    headers['X-CloudTasks-TaskETA'] =
      `${Math.floor(eta / 1000)}.${String((eta % 1000) * 1000).padStart(6, '0')}`;
    if (previous) {
      if (previous.status !== null) headers['X-CloudTasks-TaskPreviousResponse'] = String(previous.status);
      headers['X-CloudTasks-TaskRetryReason'] = '';
    }
    if (hr.oidcToken) {
      const audience = hr.oidcToken.audience || hr.url!;
      const email = hr.oidcToken.serviceAccountEmail;
      const token = this.options.oidcToken
        ? this.options.oidcToken(audience, email ?? undefined)
        : mintIdToken(audience, email ? { email } : {});
      headers['Authorization'] = `Bearer ${token}`;
    } else if (hr.oauthToken) {
      headers['Authorization'] = 'Bearer ya29.loopback-access-token';
    }
    let target = hr.url!;
    try {
      target = String(this.options.routeUrl ? this.options.routeUrl(new URL(hr.url!)) : hr.url);
    } catch {
      // An unparsable URL fails the attempt below, as a bad URL does at dispatch in Cloud Tasks.
    }
    const attempt: AttemptRecord = {
      taskName: record.name,
      queue: queue.name,
      attempt: attemptNo,
      outcome: 'in-flight',
      status: null,
      startedAt: now,
      endedAt: null,
      error: null,
      backoffMs: null,
      forced,
      request: { url: target, method: hr.httpMethod ?? 'POST', headers, body },
      responseBody: null,
    };
    record.state = 'dispatching';
    record.attempts.push(attempt);
    this.attempts.push(attempt);
    task.dispatchCount = attemptNo;
    const attemptMessage: AttemptMessage = { scheduleTime: stampOf(eta), dispatchTime: stampOf(now) };
    if (attemptNo === 1) task.firstAttempt = { dispatchTime: stampOf(now) };
    task.lastAttempt = attemptMessage;
    queue.inFlight++;
    queue.maxInFlight = Math.max(queue.maxInFlight, queue.inFlight);
    const done = this.runAttempt(entry, attempt, attemptMessage).finally(() => this.dispatches.delete(done));
    this.dispatches.add(done);
    this.changed();
  }

  private async runAttempt(entry: Entry, attempt: AttemptRecord, message: AttemptMessage): Promise<void> {
    const { record, queue } = entry;
    const deadlineMs = msOf(record.task.dispatchDeadline) || DISPATCH_DEADLINE_MS.default;
    const deadline = deadlineSignal(this.clock, deadlineMs * this.timeScale);
    let firedAt: number | null = null;
    deadline.signal.addEventListener('abort', () => (firedAt = this.clock.now()), { once: true });
    try {
      const url = new URL(attempt.request.url);
      if (!this.options.allowNonLoopbackTargets && !isLoopback(url.hostname)) {
        throw new Error(
          `refusing to dispatch to ${url.host}: tests stay on loopback (set routeUrl or allowNonLoopbackTargets)`,
        );
      }
      const signal = AbortSignal.any([deadline.signal, this.closing.signal]);
      const response = await sendHttp(
        url,
        attempt.request.method,
        attempt.request.headers,
        attempt.request.body,
        signal,
        this.agents,
      );
      attempt.status = response.status;
      attempt.responseBody = response.body.toString('utf8');
      const ok = response.status >= 200 && response.status < 300;
      attempt.outcome = ok ? 'success' : 'http-error';
      attempt.error = ok ? null : `HTTP ${response.status}`;
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      if (deadline.signal.aborted) {
        attempt.outcome = 'timeout';
        attempt.error = `DEADLINE_EXCEEDED: no response within the ${secondsOf(deadlineMs)} dispatch deadline`;
      } else if (this.closing.signal.aborted) {
        attempt.outcome = 'cancelled';
        attempt.error = 'CANCELLED: tasks server closed';
      } else {
        const code = (error as { code?: unknown }).code;
        attempt.outcome = 'connection-error';
        attempt.error = `UNAVAILABLE: ${typeof code === 'string' && !text.includes(code) ? `${code} ` : ''}${text}`;
      }
    } finally {
      deadline.clear();
    }
    const now = this.clock.now();
    attempt.endedAt = firedAt ?? now;
    queue.inFlight--;
    if (attempt.status !== null) {
      record.task.responseCount = (record.task.responseCount ?? 0) + 1;
      message.responseTime = stampOf(now);
    }
    message.responseStatus =
      attempt.status !== null
        ? { code: rpcCodeOfHttp(attempt.status), message: attempt.error ?? '' }
        : {
            code: attempt.outcome === 'timeout' ? S.DEADLINE_EXCEEDED : S.UNAVAILABLE,
            message: attempt.error ?? '',
          };

    if (attempt.outcome === 'cancelled' || record.state !== 'dispatching') {
      // Closed, or deleted/purged while in flight: nothing more to do for this task.
    } else if (attempt.outcome === 'success') {
      this.finish(entry, 'succeeded');
    } else if (this.exhausted(entry, now)) {
      this.finish(entry, 'failed');
    } else {
      const backoffMs = cloudTasksBackoffMs(record.attempts.length - 1, queue.config);
      attempt.backoffMs = backoffMs;
      record.state = 'scheduled';
      record.task.scheduleTime = stampOf(now + backoffMs);
      this.scheduleAt(entry, now + backoffMs);
    }
    this.pump(queue);
    this.changed();
  }

  /** maxAttempts reached (-1: never) and, when set, maxRetryDuration passed since the first attempt. */
  private exhausted(entry: Entry, now: number): boolean {
    const { maxAttempts, maxRetryDurationMs } = entry.queue.config;
    const attempts = entry.record.attempts;
    if (maxAttempts === -1 || attempts.length < maxAttempts) return false;
    if (maxRetryDurationMs <= 0) return true;
    return (now - attempts[0]!.startedAt) / this.timeScale >= maxRetryDurationMs;
  }

  private finish(entry: Entry, state: 'succeeded' | 'failed' | 'deleted'): void {
    const { record } = entry;
    entry.wait?.abort();
    entry.wait = null;
    record.state = state;
    record.finishedAt = this.clock.now();
    entry.queue.active.delete(entry);
    this.entries.delete(record.name);
    this.taskTombstones.set(record.name, record.finishedAt);
  }

  /** Re-checks every waiter; called after each change of state. */
  private changed(): void {
    for (const waiter of [...this.waiters]) {
      let done: boolean;
      try {
        done = waiter.predicate(this);
      } catch (error) {
        this.waiters.delete(waiter);
        if (waiter.timer) clearTimeout(waiter.timer);
        waiter.reject(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      if (done) {
        this.waiters.delete(waiter);
        if (waiter.timer) clearTimeout(waiter.timer);
        waiter.resolve();
      }
    }
  }
}

function settingsToConfig(settings: QueueSettings, base: QueueConfig): QueueConfig {
  const seconds = (value: number | undefined, fallback: number) =>
    value === undefined ? fallback : Math.round(value * 1000);
  return {
    maxDispatchesPerSecond: settings.maxDispatchesPerSecond ?? base.maxDispatchesPerSecond,
    maxBurstSize: base.maxBurstSize,
    maxConcurrentDispatches: settings.maxConcurrentDispatches ?? base.maxConcurrentDispatches,
    maxAttempts: settings.maxAttempts ?? base.maxAttempts,
    minBackoffMs: seconds(settings.minBackoffSeconds, base.minBackoffMs),
    maxBackoffMs: seconds(settings.maxBackoffSeconds, base.maxBackoffMs),
    maxDoublings: settings.maxDoublings ?? base.maxDoublings,
    maxRetryDurationMs: seconds(settings.maxRetryDurationSeconds, base.maxRetryDurationMs),
  };
}

/**
 * Applies a Queue message over `base`. With `paths` (camelCase), only those fields change, and a listed
 * field that is absent goes back to its default; without, every field changes (absent: default), as
 * UpdateQueue documents. Proto3 cannot send a zero, so zero means "default" (maxBurstSize is output only).
 */
function messageToConfig(message: QueueMessage, base: QueueConfig, paths: string[] | null): QueueConfig {
  const covered = (field: string) =>
    !paths || paths.some((p) => p === field || field.startsWith(`${p}.`) || p.startsWith(`${field}.`));
  const pick = (field: string, value: number | null | undefined, key: keyof QueueConfig): number => {
    if (!covered(field)) return base[key];
    return value === null || value === undefined || value === 0 ? QUEUE_DEFAULTS[key] : value;
  };
  const r = message.rateLimits ?? {};
  const c = message.retryConfig ?? {};
  return {
    maxDispatchesPerSecond: pick(
      'rateLimits.maxDispatchesPerSecond',
      r.maxDispatchesPerSecond,
      'maxDispatchesPerSecond',
    ),
    maxBurstSize: base.maxBurstSize,
    maxConcurrentDispatches: pick(
      'rateLimits.maxConcurrentDispatches',
      r.maxConcurrentDispatches,
      'maxConcurrentDispatches',
    ),
    maxAttempts: pick('retryConfig.maxAttempts', c.maxAttempts, 'maxAttempts'),
    minBackoffMs: pick('retryConfig.minBackoff', msOf(c.minBackoff), 'minBackoffMs'),
    maxBackoffMs: pick('retryConfig.maxBackoff', msOf(c.maxBackoff), 'maxBackoffMs'),
    maxDoublings: pick('retryConfig.maxDoublings', c.maxDoublings, 'maxDoublings'),
    maxRetryDurationMs: pick('retryConfig.maxRetryDuration', msOf(c.maxRetryDuration), 'maxRetryDurationMs'),
  };
}

/** `rate_limits.max_concurrent_dispatches` → `rateLimits.maxConcurrentDispatches`. */
function camelPath(path: string): string {
  return path.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** Starts a Cloud Tasks server on 127.0.0.1 (ephemeral port). Close it with `close()`. */
export async function startTasksServer(options: TasksServerOptions = {}): Promise<TasksServer> {
  return new TasksServer(options).listen();
}
