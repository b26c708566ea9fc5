// The @grpc/grpc-js copy google-gax (and so the Tasks client) uses.
import { grpc } from 'google-gax';
import type { QueueMessage, TasksRequestMessage } from './messages';
import {
  type AttemptRecord,
  QUEUE_DEFAULTS,
  type QueueSettings,
  type TaskRecord,
  type TasksServerOptions,
  type WaitOptions,
} from './records';
import { cloudTasksService, type Handler, settingsToConfig, shortName } from './internals';
import type { Waiter } from './state';
import { TasksTaskRpcs } from './task-rpcs';

/** The server's public face: listen, queues and tasks for assertions, waits, injected failures, close. */
export class TasksServer extends TasksTaskRpcs {
  constructor(options: TasksServerOptions = {}) {
    super(options);
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
}

/** Starts a Cloud Tasks server on 127.0.0.1 (ephemeral port). Close it with `close()`. */
export async function startTasksServer(options: TasksServerOptions = {}): Promise<TasksServer> {
  return new TasksServer(options).listen();
}
