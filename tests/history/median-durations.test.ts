/**
 * The planner's expected durations: the median of each collector's successful runs in the history, and
 * the same medians when only a few collectors are asked for (the run's overlap check asks for the group
 * members only, among thousands), catch-up runs (`name@time`) included.
 */
import type { HistoryEntry, HistoryRun } from '../../src/history/entry';
import { medianDurations } from '../../src/history/history';

const run = (duration: number, status: HistoryRun['status'] = 'success'): HistoryRun => ({
  status,
  start_time: '2026-11-22T14:00:00Z',
  duration_seconds: duration,
  attempts: 1,
  error_type: null,
});

function entry(id: string, collectors: Record<string, HistoryRun>): HistoryEntry {
  return {
    execution_id: id,
    start_time: '2026-11-22T14:00:00Z',
    end_time: '2026-11-22T14:00:01Z',
    duration_seconds: 1,
    trigger: 'cloud-scheduler/tick',
    scheduled_time: '2026-11-22T14:00:00Z',
    job_name: null,
    mode: 'http',
    summary: { total: 0, succeeded: 0, failed: 0, skipped: 0, scheduled: 0, running: 0 },
    collectors,
  };
}

const entries = [
  entry('e1', { a: run(10), b: run(100), c: run(7) }),
  entry('e2', { a: run(30), b: run(999, 'failed'), 'a@2026-11-22T13:00:00.000Z': run(20) }),
  entry('e3', { b: run(300), c: run(9) }),
];

describe('medianDurations', () => {
  it('takes the median of the successful runs, catch-up runs counted as their collector’s', () => {
    expect(medianDurations(entries)).toEqual(
      new Map([
        ['a', 20],
        ['b', 200],
        ['c', 8],
      ]),
    );
  });

  it('gives the same medians for the collectors asked for, and none for the others', () => {
    expect(medianDurations(entries, new Set(['a', 'b', 'z']))).toEqual(
      new Map([
        ['a', 20],
        ['b', 200],
      ]),
    );
  });
});
