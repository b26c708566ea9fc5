import { mergeRecord } from '../../src/report/merge';
import { buildReport, collectorReport } from '../../src/report/report';
import type { CollectorOutcome } from '../../src/dispatch/types';
import type { RunRecord } from '../../src/runtime/contract';

/**
 * A run some of whose units failed stays `success` for the original report's readers, and says
 * `partial: true` with its unit counts, in HTTP mode (buildReport) and Tasks mode (mergeRecord) alike.
 */

const units = {
  total: 3,
  succeeded: 2,
  skipped: 0,
  failed: 1,
  failures: [{ unit: 'file 2025/33', error: 'GET … answered 502', errorType: 'HTTPError', retryable: true }],
};

function outcome(name: string, status: CollectorOutcome['status'], result: unknown): CollectorOutcome {
  return {
    name,
    status,
    httpStatus: 200,
    error: null,
    errorType: null,
    startMs: 0,
    endMs: 1000,
    attempts: 1,
    result,
  };
}

describe('partial runs in the report', () => {
  it('keeps status success, adds partial and unit counts, and counts them in summary.partial', () => {
    const report = buildReport({
      executionId: 'exec-1',
      startMs: 0,
      endMs: 2000,
      mode: 'http',
      trigger: {
        source: 'cli',
        kind: 'manual',
        scheduled_time: '2026-11-22T02:00:00.000Z',
        job_name: null,
        forced: false,
      },
      outcomes: [
        outcome('dvf', 'success', { records: 10, units }),
        outcome('plu', 'success', { records: 4, units: { ...units, failed: 0, failures: [] } }),
        outcome('sirene', 'success', { records: 0 }),
      ],
    });
    expect(report.collectors['dvf']).toMatchObject({
      status: 'success',
      partial: true,
      units: { total: 3, succeeded: 2, skipped: 0, failed: 1 },
    });
    expect(report.collectors['plu']).not.toHaveProperty('partial');
    expect(report.collectors['sirene']).not.toHaveProperty('partial');
    expect(report.summary).toEqual({
      total: 3,
      succeeded: 3,
      failed: 0,
      skipped: 0,
      scheduled: 0,
      running: 0,
      partial: 1,
    });
  });

  it('leaves summary.partial out when no run is partial, and never marks a failed run partial', () => {
    const failed = collectorReport({
      ...outcome('dvf', 'failed', { records: 0, units }),
      error: 'every one…',
    });
    expect(failed).not.toHaveProperty('partial');
    const report = buildReport({
      executionId: 'exec-2',
      startMs: 0,
      endMs: 1,
      mode: 'http',
      trigger: {
        source: 'cli',
        kind: 'manual',
        scheduled_time: '2026-11-22T02:00:00.000Z',
        job_name: null,
        forced: false,
      },
      outcomes: [outcome('sirene', 'success', { records: 0 })],
    });
    expect(report.summary).not.toHaveProperty('partial');
  });

  it('marks a Cloud Tasks run record merged into the report the same way', () => {
    const record: RunRecord = {
      collector: 'dvf',
      executionId: 'exec-3',
      scheduledTime: '2026-11-22T02:00:00.000Z',
      attempt: 1,
      status: 'success',
      startTime: '2026-11-22T02:00:00.000Z',
      endTime: '2026-11-22T02:01:00.000Z',
      durationSeconds: 60,
      error: null,
      errorType: null,
      retryable: false,
      reason: null,
      result: { records: 10, units },
      manifest: null,
    };
    const entry = collectorReport({ ...outcome('dvf', 'scheduled', null), httpStatus: null });
    expect(mergeRecord(entry, record)).toMatchObject({
      status: 'success',
      partial: true,
      units: { failed: 1 },
    });
    expect(mergeRecord(entry, { ...record, status: 'failed', retryable: false })).not.toHaveProperty(
      'partial',
    );
  });
});
