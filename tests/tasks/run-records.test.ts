/**
 * Run records when Cloud Tasks delivers more than once: the run that started last owns the record, an
 * older run ending later never clobbers it, and each retry gets its own attempt number although every
 * delivery's body says attempt 1. Then how a record merges into a report entry.
 */
import type { CollectorReport, ExecutionReport } from '../../src/report/report';
import { mergeRecord, withRunRecords } from '../../src/report/merge';
import type { RunRecord } from '../../src/runtime/contract';
import { claimRunRecord, readRunRecord, writeRunRecord } from '../../src/runtime/run-records';
import { openStore } from '../../src/store/open';
import type { ObjectStore } from '../../src/store/types';
import { captureLogger } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';

const EXEC = '20261122T140000Z-1a2b3c4d';

function record(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    collector: 'dvf',
    executionId: EXEC,
    scheduledTime: '2026-11-22T14:00:00.000Z',
    attempt: 1,
    status: 'running',
    startTime: '2026-11-22T14:00:01.000Z',
    endTime: null,
    durationSeconds: null,
    error: null,
    errorType: null,
    retryable: false,
    reason: null,
    result: null,
    manifest: null,
    ...overrides,
  };
}

const done = (overrides: Partial<RunRecord> = {}) =>
  record({
    status: 'success',
    endTime: '2026-11-22T14:00:09.000Z',
    durationSeconds: 8,
    result: { records: 4 },
    ...overrides,
  });

describe.each(STORE_KINDS)('run records on the %s store', (kind) => {
  const storage = storeFixture(kind);
  let state: ObjectStore;
  let n = 0;
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  beforeEach(async () => {
    state = await openStore(storage.uri(`state-${++n}`));
  });

  it('numbers a retry after the attempt recorded before it, though its body says attempt 1', async () => {
    const { logger } = captureLogger();
    const first = await claimRunRecord(state, record(), logger);
    expect(first.attempt).toBe(1);
    await first.finish(record({ status: 'failed', retryable: true, error: 'upstream 503' }));
    const retry = await claimRunRecord(state, record(), logger);
    expect(retry.attempt).toBe(2);
    expect(await readRunRecord(state, EXEC, 'dvf')).toMatchObject({ status: 'running', attempt: 2 });
    expect(await retry.finish(done())).toBe(true);
    expect(await readRunRecord(state, EXEC, 'dvf')).toMatchObject({ status: 'success', attempt: 2 });
  });

  it('keeps an explicit attempt number when it is ahead (HTTP mode numbers its own retries)', async () => {
    const { logger } = captureLogger();
    const claim = await claimRunRecord(state, record({ attempt: 3 }), logger);
    expect(claim.attempt).toBe(3);
  });

  it('an older run ending after a newer one started never clobbers the newer record', async () => {
    const { logger, entries } = captureLogger();
    const stale = await claimRunRecord(state, record(), logger);
    const retry = await claimRunRecord(state, record(), logger);
    expect(await stale.finish(done({ result: { records: 1 } }))).toBe(false);
    expect(await readRunRecord(state, EXEC, 'dvf')).toMatchObject({ status: 'running', attempt: 2 });
    expect(entries.some((e) => e.severity === 'WARNING' && /left to a later run/.test(e.message))).toBe(true);
    expect(await retry.finish(done({ status: 'failed', error: 'boom', retryable: false }))).toBe(true);
    expect(await readRunRecord(state, EXEC, 'dvf')).toMatchObject({
      status: 'failed',
      attempt: 2,
      error: 'boom',
    });
  });

  it('two runs starting at the same moment get different attempt numbers', async () => {
    const { logger } = captureLogger();
    const claims = await Promise.all([1, 2, 3].map(() => claimRunRecord(state, record(), logger)));
    expect(claims.map((c) => c.attempt).sort()).toEqual([1, 2, 3]);
  });

  it('merges records into a stored report on read: pending entries only, summary recomputed, keys kept', async () => {
    const { logger } = captureLogger();
    await writeRunRecord(state, done(), logger);
    await writeRunRecord(state, record({ collector: 'sirene' }), logger);
    await writeRunRecord(state, done({ collector: 'plu', status: 'failed', error: 'late record' }), logger);
    const report = storedReport({
      dvf: entry({ status: 'scheduled', task_name: 'projects/p/locations/l/queues/q/tasks/x' }),
      sirene: entry({ status: 'scheduled' }),
      plu: entry({ status: 'success', http_status: 200 }),
      geo: entry({ status: 'scheduled' }),
    });
    const merged = await withRunRecords(report, state);
    expect(Object.keys(merged.collectors)).toEqual(['dvf', 'sirene', 'plu', 'geo']);
    expect(merged.collectors['dvf']).toMatchObject({
      status: 'success',
      http_status: 200,
      attempts: 1,
      duration_seconds: 8,
      result: { records: 4 },
      task_name: 'projects/p/locations/l/queues/q/tasks/x',
    });
    expect(merged.collectors['sirene']).toMatchObject({ status: 'running', http_status: null });
    // An HTTP-mode verdict stands; a collector with no record yet stays scheduled.
    expect(merged.collectors['plu']).toEqual(report.collectors['plu']);
    expect(merged.collectors['geo']!.status).toBe('scheduled');
    expect(merged.summary).toEqual({
      total: 4,
      succeeded: 2,
      failed: 0,
      skipped: 0,
      scheduled: 1,
      running: 1,
    });
    expect(Object.keys(merged)).toEqual(Object.keys(report));
    expect(report.collectors['dvf']!.status).toBe('scheduled');
  });

  it('reports a run still recorded as running well past its start plus timeout as timed out', async () => {
    const { logger } = captureLogger();
    // The run started at 14:00:01 with a 300 s timeout, then its instance died without a word.
    await writeRunRecord(state, record({ expiresAt: '2026-11-22T14:05:01.000Z' }), logger);
    const report = storedReport({ dvf: entry({ status: 'scheduled' }) });
    const soon = await withRunRecords(report, state, Date.parse('2026-11-22T14:05:30Z'));
    expect(soon.collectors['dvf']).toMatchObject({ status: 'running' });
    const later = await withRunRecords(report, state, Date.parse('2026-11-22T14:06:30Z'));
    expect(later.collectors['dvf']).toMatchObject({
      status: 'failed',
      error_type: 'Timeout',
      end_time: '2026-11-22T14:05:01.000Z',
    });
    expect(later.collectors['dvf']!.error).toMatch(
      /no outcome was recorded by 2026-11-22T14:05:01\.000Z .*instance stopped/,
    );
    expect(later.summary).toMatchObject({ failed: 1, running: 0 });
  });
});

describe('a run record merged into a report entry', () => {
  it.each([
    ['retryable, attempts left', { attempt: 2 }, 3, 'running', true],
    ['retryable, last attempt', { attempt: 3 }, 3, 'failed', false],
    ['retryable, unlimited attempts', { attempt: 9 }, -1, 'running', true],
    ['retryable, no known limit (HTTP mode)', { attempt: 1 }, undefined, 'failed', false],
  ] as const)('%s', (_name, overrides, maxAttempts, status, retrying) => {
    const merged = mergeRecord(
      entry({
        status: 'scheduled',
        ...(maxAttempts === undefined ? {} : { task_max_attempts: maxAttempts }),
      }),
      done({
        ...overrides,
        status: 'failed',
        retryable: true,
        error: 'upstream 503',
        errorType: 'UPSTREAM_HTTP',
      }),
    );
    expect(merged).toMatchObject({
      status,
      http_status: 503,
      error: 'upstream 503',
      attempts: overrides.attempt,
    });
    expect(merged['retrying'] === true).toBe(retrying);
  });

  it('carries a skip reason and its details, and masks secret-named fields', () => {
    const merged = mergeRecord(
      entry({ status: 'scheduled' }),
      done({
        status: 'skipped',
        reason: 'group_busy',
        details: { group: 'xmp-account' },
        result: { records: 0, summary: { token: 'abc' } },
      }),
    );
    expect(merged).toMatchObject({
      status: 'skipped',
      reason: 'group_busy',
      group: 'xmp-account',
      result: { summary: { token: '[redacted]' } },
    });
  });
});

function entry(overrides: Partial<CollectorReport>): CollectorReport {
  return {
    status: 'scheduled',
    http_status: null,
    error: null,
    error_type: null,
    start_time: null,
    end_time: null,
    duration_seconds: null,
    result: null,
    attempts: 0,
    ...overrides,
  };
}

function storedReport(collectors: Record<string, CollectorReport>): ExecutionReport {
  return {
    schema_version: 2,
    execution_id: EXEC,
    start_time: '2026-11-22T14:00:00.000Z',
    end_time: '2026-11-22T14:00:00.500Z',
    duration_seconds: 0.5,
    trigger: {
      source: 'http',
      kind: 'manual',
      scheduled_time: '2026-11-22T14:00:00.000Z',
      job_name: null,
      forced: false,
    },
    mode: 'tasks',
    collectors,
    summary: { total: 0, succeeded: 0, failed: 0, skipped: 0, scheduled: 4, running: 0 },
    warnings: [],
  };
}
