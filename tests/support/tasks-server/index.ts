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
export {
  type Timestamp,
  type Duration,
  HTTP_METHODS,
  type HttpMethod,
  type OidcTokenMessage,
  type OAuthTokenMessage,
  type HttpRequestMessage,
  type RpcStatusMessage,
  type AttemptMessage,
  type TaskView,
  type TaskMessage,
  type RateLimitsMessage,
  type RetryConfigMessage,
  type QueueStateName,
  type QueueMessage,
  type TasksRequestMessage,
} from './messages';
export { type TasksClock, realClock } from './time';
export {
  TASK_STATES,
  type TaskState,
  ATTEMPT_OUTCOMES,
  type AttemptOutcome,
  type AttemptRecord,
  type TaskRecord,
  type GrpcCallRecord,
  type QueueSettings,
  type TasksServerOptions,
  type WaitOptions,
  QUEUE_DEFAULTS,
  DISPATCH_DEADLINE_MS,
  cloudTasksBackoffMs,
} from './records';
export { tasksClientOptions } from './client-options';
export { TasksServer, startTasksServer } from './server';
