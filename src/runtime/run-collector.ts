import { networkCause } from '../util/network-errors';
import { errorMessage, isSchedulerError, SchedulerError } from '../errors';
import type { SecretSource } from '../secrets/types';
import type { ObjectStore } from '../store/types';
import type { TokenBroker } from '../token/types';
import { isoTime, secondsBetween, timeoutSignal, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { scrub } from '../util/secrets';
import type { Collector, CollectorContext, RunRecord } from './contract';
import { isRetryableRunError, PermanentError, SkipRun } from './errors';
import { RawOutput } from './output';
import type { DispatchPayload } from './payload';
import { claimRunRecord } from './run-records';
import { untilAborted } from '../util/abort';
import { eitherSignal, isCancellation } from '../util/cancel';

export interface CollectorRuntime {
  stores: { raw: ObjectStore; state: ObjectStore };
  fetch: typeof fetch;
  clock: Clock;
  logger: Logger;
  env: Readonly<Record<string, string | undefined>>;
  secrets: SecretSource;
  tokens: TokenBroker;
  /**
   * Aborted with a CancelledError when a signal stops the process (the run ends `cancelled`), or with
   * another reason when its caller stopped waiting (it ends timed out).
   */
  shutdown?: AbortSignal;
}

/**
 * One run: the dispatch payload (what travelled) and the options it runs with, which come from the
 * config entry (or, for `scheduler collect`, the operator's own command line), never from a request.
 */
export type CollectorRun = DispatchPayload & { options: Readonly<Record<string, unknown>> };

export interface CollectorRunOutcome {
  record: RunRecord;
  /**
   * 200 for success, skip and permanent failure (so neither the dispatcher nor Cloud Tasks retries what
   * cannot succeed); 503 for a failure another attempt may fix.
   */
  httpStatus: number;
}

/** Runs one collector for one dispatch payload, writing its raw output, manifest and run record. */
export async function runCollector(
  collector: Collector<unknown>,
  payload: CollectorRun,
  timeoutSeconds: number,
  runtime: CollectorRuntime,
  /** Stops the run from outside (its group lease was lost); the run is failed with the reason. */
  stop?: AbortSignal,
): Promise<CollectorRunOutcome> {
  const { clock } = runtime;
  const started = clock.now();
  const scheduledTime = new Date(payload.scheduledTime);
  // The entry's name (xmp-daily) names the run; the implementation's (xmp) names its raw data folder.
  const name = payload.collector;
  const runLog = runtime.logger.child({
    collector: name,
    executionId: payload.executionId,
    ...(payload.shard === undefined ? {} : { shard: payload.shard }),
  });
  const first = runningRecord(payload, started, timeoutSeconds);
  const claim = await claimRunRecord(runtime.stores.state, first, runLog);
  const log = runLog.child({ attempt: claim.attempt });
  // The attempt as recorded: in Cloud Tasks mode every delivery carries attempt 1 in its body.
  const base: RunRecord = { ...first, attempt: claim.attempt };

  const timeout = timeoutSignal(
    clock,
    timeoutSeconds * 1000,
    new SchedulerError(
      'COLLECTOR_TIMEOUT',
      `${name} did not finish within its timeout of ${timeoutSeconds} s`,
    ),
  );
  // The collector sees one signal: its timeout, the process stopping, or its caller's stop (a lost lease).
  const stops = [runtime.shutdown, stop].filter((s): s is AbortSignal => s !== undefined);
  const signal = stops.length > 0 ? eitherSignal(timeout.signal, ...stops) : timeout.signal;
  const output = new RawOutput(runtime.stores.raw.scope(collector.name), {
    collector: name,
    executionId: payload.executionId,
    scheduledTime,
    manifestPrefix: manifestPrefix(name, collector.name, payload.shard),
  });
  let record: RunRecord;
  try {
    const ctx: CollectorContext<unknown> = {
      collector: name,
      executionId: payload.executionId,
      scheduledTime,
      attempt: claim.attempt,
      options: parseRunOptions(collector, name, payload.options),
      output,
      state: runtime.stores.state.scope(`collectors/${name}`),
      fetch: runtime.fetch,
      clock,
      log,
      signal,
      env: runtime.env,
      secrets: runtime.secrets,
      tokens: runtime.tokens,
      ...(payload.shard === undefined ? {} : { shard: payload.shard }),
    };
    log.info('collector run started');
    const result = await untilAborted(collector.run(ctx), signal);
    const manifest = await output.finish();
    record = { ...base, status: 'success', result, manifest };
  } catch (error) {
    record = await endedRecord(base, error, { timeout: timeout.signal, signal, stop }, output);
  } finally {
    timeout.clear();
  }
  const ended = clock.now();
  record = { ...record, endTime: isoTime(ended), durationSeconds: secondsBetween(started, ended) };
  const level = record.status === 'failed' ? 'error' : 'info';
  log[level](`collector run ${record.status}`, {
    durationSeconds: record.durationSeconds,
    error: record.error,
    reason: record.reason,
  });
  await claim.finish(record);
  const retry = (record.status === 'failed' || record.status === 'cancelled') && record.retryable;
  return { record, httpStatus: retry ? 503 : 200 };
}

/** The record a run starts with: running, until its timeout from `started`. */
function runningRecord(payload: CollectorRun, started: number, timeoutSeconds: number): RunRecord {
  return {
    collector: payload.collector,
    executionId: payload.executionId,
    scheduledTime: new Date(payload.scheduledTime).toISOString(),
    attempt: payload.attempt,
    status: 'running',
    startTime: isoTime(started),
    endTime: null,
    durationSeconds: null,
    error: null,
    errorType: null,
    retryable: false,
    reason: null,
    result: null,
    manifest: null,
    expiresAt: isoTime(started + timeoutSeconds * 1000),
    ...(payload.shard === undefined ? {} : { shard: payload.shard }),
  };
}

/** The collector's own options; options it refuses are a permanent failure (no retry can fix them). */
function parseRunOptions(collector: Collector<unknown>, name: string, raw: CollectorRun['options']): unknown {
  try {
    return collector.parseOptions(raw);
  } catch (error) {
    throw error instanceof PermanentError
      ? error
      : new PermanentError(`invalid options for ${name}: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * The record of a run that threw: skipped, cancelled (the process is stopping), failed because it was
 * stopped from outside (its group lease was lost), or failed on its own or its timeout.
 */
async function endedRecord(
  base: RunRecord,
  error: unknown,
  signals: { timeout: AbortSignal; signal: AbortSignal; stop: AbortSignal | undefined },
  output: RawOutput,
): Promise<RunRecord> {
  const { timeout, signal, stop } = signals;
  if (error instanceof SkipRun) {
    return { ...base, status: 'skipped', reason: error.reason, error: scrub(error.message) };
  }
  if (!timeout.aborted && isCancellation(signal.reason)) {
    return {
      ...base,
      status: 'cancelled',
      error: scrub(errorMessage(signal.reason)),
      errorType: 'Cancelled',
      // Another delivery (a Cloud Tasks retry, the tick's retry) may run it to the end.
      retryable: true,
      manifest: output.objects().length > 0 ? await output.finish().catch(() => null) : null,
    };
  }
  if (!timeout.aborted && stop?.aborted && signal.reason === stop.reason) {
    // Stopped from outside (its group lease was lost): the reason says why; a later delivery may redo it.
    const reason = (stop.reason as { reason?: unknown } | null)?.reason;
    return {
      ...base,
      status: 'failed',
      error: scrub(errorMessage(stop.reason)),
      errorType: errorType(stop.reason),
      ...(typeof reason === 'string' ? { reason } : {}),
      retryable: true,
      manifest: output.objects().length > 0 ? await output.finish().catch(() => null) : null,
    };
  }
  // Its timeout, or its caller stopping to wait (the scheduler's deadline): a timeout either way.
  const timedOut = signal.aborted;
  return {
    ...base,
    status: 'failed',
    error: scrub(errorMessage(timedOut ? signal.reason : error)),
    errorType: timedOut ? 'Timeout' : errorType(error),
    retryable: timedOut || isRetryableRunError(error),
    // What was written before the failure is still listed, so nothing is orphaned.
    manifest: output.hasContent() ? await output.finish().catch(() => null) : null,
  };
}

/**
 * A run that did not start: recorded as skipped (unless `record` is false: a duplicate delivery must
 * not overwrite the record of the run it duplicates) and answered 200, since retrying cannot help.
 */
export async function skipRun(
  collector: string,
  payload: DispatchPayload,
  skip: { reason: string; message: string; details?: Record<string, unknown>; retryable?: boolean },
  runtime: CollectorRuntime,
  options: { record: boolean },
): Promise<CollectorRunOutcome> {
  const now = isoTime(runtime.clock.now());
  let record: RunRecord = {
    collector,
    executionId: payload.executionId,
    scheduledTime: new Date(payload.scheduledTime).toISOString(),
    attempt: payload.attempt,
    status: 'skipped',
    startTime: now,
    endTime: now,
    durationSeconds: 0,
    error: skip.message,
    errorType: null,
    // A skip a later delivery may turn into a run (a busy group under Cloud Tasks).
    retryable: skip.retryable ?? false,
    reason: skip.reason,
    result: null,
    manifest: null,
    ...(skip.details ? { details: skip.details } : {}),
    ...(payload.shard === undefined ? {} : { shard: payload.shard }),
  };
  runtime.logger.info(`collector run skipped: ${skip.message}`, {
    collector,
    executionId: payload.executionId,
    reason: skip.reason,
  });
  if (options.record) {
    // Claimed like a run's record, so that a skip never clobbers the record of a later run of it.
    const claim = await claimRunRecord(runtime.stores.state, record, runtime.logger);
    record = { ...record, attempt: claim.attempt };
  }
  return { record, httpStatus: record.retryable ? 503 : 200 };
}

/** `manifests/` (another job's under its name), a shard's in `shards/<key>/` below it. */
function manifestPrefix(name: string, implementation: string, shard: string | undefined): string {
  const base = name === implementation ? 'manifests' : `manifests/${name}`;
  return shard === undefined ? base : `${base}/shards/${shard}`;
}

function errorType(error: unknown): string {
  const declared = (error as { errorType?: unknown } | null)?.errorType;
  if (typeof declared === 'string') return declared;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'UPSTREAM_HTTP') return 'HTTPError';
  // A fetch failure a collector let through is named by its cause, like the upstream client's.
  const network = isSchedulerError(error) ? null : networkCause(error);
  if (network) return network.type;
  if (typeof code === 'string' && code.length > 0 && code === code.toUpperCase()) return code;
  return error instanceof Error ? error.name : 'Error';
}
