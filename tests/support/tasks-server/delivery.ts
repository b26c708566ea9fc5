import { mintIdToken } from '../id-tokens';
import type { AttemptMessage } from './messages';
import { deadlineSignal } from './time';
import { type AttemptRecord, cloudTasksBackoffMs, DISPATCH_DEADLINE_MS } from './records';
import {
  type Entry,
  isLoopback,
  msOf,
  type Queue,
  rpcCodeOfHttp,
  S,
  secondsOf,
  sendHttp,
  shortName,
  stampOf,
} from './internals';
import { TasksServerState } from './state';

/** Dispatching tasks: schedule times, the queue's rate and concurrency limits, attempts, backoff. */
export abstract class TasksDelivery extends TasksServerState {
  // ---- dispatch ----

  /** Waits (scaled) until `dueAt`, then lets the queue dispatch the task. */
  protected scheduleAt(entry: Entry, dueAt: number): void {
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
  protected pump(queue: Queue): void {
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
  protected takeToken(queue: Queue): boolean {
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

  protected startAttempt(entry: Entry, forced: boolean): void {
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

  protected async runAttempt(entry: Entry, attempt: AttemptRecord, message: AttemptMessage): Promise<void> {
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
  protected exhausted(entry: Entry, now: number): boolean {
    const { maxAttempts, maxRetryDurationMs } = entry.queue.config;
    const attempts = entry.record.attempts;
    if (maxAttempts === -1 || attempts.length < maxAttempts) return false;
    if (maxRetryDurationMs <= 0) return true;
    return (now - attempts[0]!.startedAt) / this.timeScale >= maxRetryDurationMs;
  }

  protected finish(entry: Entry, state: 'succeeded' | 'failed' | 'deleted'): void {
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
  protected changed(): void {
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
