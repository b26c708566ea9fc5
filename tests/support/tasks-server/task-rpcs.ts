import { randomInt } from 'node:crypto';
// The @grpc/grpc-js copy google-gax (and so the Tasks client) uses.
import { grpc } from 'google-gax';
import type { HttpMethod, HttpRequestMessage, TaskMessage, TasksRequestMessage, TaskView } from './messages';
import {
  DISPATCH_DEADLINE_MS,
  type GrpcCallRecord,
  MAX_TASK_BYTES,
  QUEUE_DEFAULTS,
  QUEUE_NAME,
  QUEUE_NOT_FOUND,
  SCHEDULE_HORIZON_MS,
  TASK_GONE,
  TASK_ID,
  TASK_NAME,
  TASK_NOT_FOUND,
  type TaskRecord,
} from './records';
import {
  clone,
  type Entry,
  type Handler,
  invalid,
  msOf,
  RpcError,
  S,
  settingsToConfig,
  shortName,
  stampOf,
} from './internals';
import { TasksQueueRpcs } from './queue-rpcs';

/** The task methods of the CloudTasks service, and the gRPC plumbing that routes every call. */
export abstract class TasksTaskRpcs extends TasksQueueRpcs {
  // ---- gRPC plumbing ----

  protected handle(
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

  protected answer(
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

  protected rpcCreateTask(request: TasksRequestMessage): TaskMessage {
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
  protected validateTask(input: TaskMessage, now: number): TaskMessage {
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

  protected rpcGetTask(request: TasksRequestMessage): TaskMessage {
    return this.renderTask(this.requireTask(request.name).record, request.responseView);
  }

  protected rpcListTasks(request: TasksRequestMessage): object {
    const queue = this.requireQueue(request.parent);
    const all = [...queue.active].sort((a, b) => a.seq - b.seq);
    const pageSize = Math.min(request.pageSize || 1000, 1000);
    const start = Number(request.pageToken || 0);
    const page = all.slice(start, start + pageSize);
    const next = start + pageSize < all.length ? String(start + pageSize) : '';
    return { tasks: page.map((e) => this.renderTask(e.record, request.responseView)), nextPageToken: next };
  }

  protected rpcDeleteTask(request: TasksRequestMessage): object {
    const entry = this.requireTask(request.name);
    this.finish(entry, 'deleted');
    return {};
  }

  protected rpcRunTask(request: TasksRequestMessage): TaskMessage {
    const entry = this.requireTask(request.name);
    if (entry.record.state === 'scheduled') {
      entry.wait?.abort();
      entry.wait = null;
      this.startAttempt(entry, true);
    }
    return this.renderTask(entry.record, request.responseView);
  }

  protected requireTask(name: string | undefined): Entry {
    const entry = this.entries.get(name ?? '');
    if (entry) return entry;
    if (name && this.recentlyDeleted(this.taskTombstones, name, this.tombstoneMs)) {
      throw new RpcError(S.NOT_FOUND, TASK_GONE);
    }
    throw new RpcError(S.NOT_FOUND, TASK_NOT_FOUND);
  }

  protected renderTask(record: TaskRecord, view: TaskView | undefined): TaskMessage {
    const full = view === 'FULL';
    const task = clone(record.task);
    if (!full && task.httpRequest) delete task.httpRequest.body;
    task.view = full ? 'FULL' : 'BASIC';
    return task;
  }
}
