import { historyEntry } from '../../src/history/entry';
import { readHistory, rebuildHistory } from '../../src/history/history';
import { HistoryIndex } from '../../src/history/history-index';
import { ReportStore } from '../../src/report/report-store';
import { openStore } from '../../src/store/open';
import { putJson, type ObjectStore } from '../../src/store/types';
import { silentLogger } from '../../src/util/log';
import { captureLogger } from '../support/services';
import { countingStore, outcome, reportAt } from '../support/reports';
import { STORE_KINDS, storeFixture } from '../support/stores';

/** A fixed "now" for month rolls: the index never looks at the wall clock in these tests. */
const NOW = Date.parse('2026-11-22T15:00:00Z');

describe.each(STORE_KINDS)('the history index on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;

  async function stores(): Promise<{ reports: ObjectStore; state: ObjectStore }> {
    const base = storage.uri(`case-${++n}`);
    return { reports: await openStore(`${base}/reports`), state: await openStore(`${base}/state`) };
  }

  const deps = (s: { reports: ObjectStore; state: ObjectStore }, now = NOW) => ({
    ...s,
    logger: silentLogger,
    now: () => now,
  });

  it('lists executions newest first, one line each, without reading a single report', async () => {
    const s = await stores();
    const saver = new ReportStore(s.reports, silentLogger, () => NOW);
    // Saved out of order: the index sorts by start time, not by save order.
    for (const start of ['2026-11-22T10:00:00Z', '2026-11-22T12:00:00Z', '2026-11-21T23:55:00Z']) {
      await saver.save(
        reportAt(start, (t0) => [
          outcome('dvf', 'success', t0, 0, 12.5),
          outcome('xmp', 'failed', t0, 0, 3, 3, { error: 'HTTP 503', errorType: 'HTTPError' }),
        ]),
      );
    }
    await saver.save(reportAt('2026-11-22T11:00:00Z', (t0) => [outcome('xmp', 'success', t0, 1, 4)]));

    const counting = countingStore(s.reports);
    const result = await readHistory(deps({ reports: counting, state: s.state }), { limit: 10 });
    expect(result.entries.map((e) => e.start_time)).toEqual([
      '2026-11-22T12:00:00.000Z',
      '2026-11-22T11:00:00.000Z',
      '2026-11-22T10:00:00.000Z',
      '2026-11-21T23:55:00.000Z',
    ]);
    expect(result.entries[0]).toMatchObject({
      trigger: 'cloud-scheduler/tick',
      mode: 'http',
      duration_seconds: 30,
      summary: { total: 2, succeeded: 1, failed: 1 },
      collectors: {
        dvf: { status: 'success', duration_seconds: 12.5, attempts: 1 },
        xmp: { status: 'failed', attempts: 3, error_type: 'HTTPError' },
      },
    });
    // Only index objects were read: two day objects, after one listing of the index.
    expect(counting.lists).toEqual(['index/']);
    expect(counting.gets.every((k) => k.startsWith('index/days/'))).toBe(true);
    expect(result.objects_read).toBe(2);
  });

  it('filters by collector and start time, honours the limit, and gives the collector its runs', async () => {
    const s = await stores();
    const saver = new ReportStore(s.reports, silentLogger, () => NOW);
    for (let h = 0; h < 6; h++) {
      const start = `2026-11-22T0${h}:00:00Z`;
      await saver.save(
        reportAt(start, (t0) =>
          h % 2 === 0
            ? [outcome('dvf', 'success', t0, 0, 10 + h), outcome('xmp', 'success', t0, 0, 1)]
            : [outcome('xmp', 'success', t0, 0, 1)],
        ),
      );
    }
    const dvf = await readHistory(deps(s), { collector: 'dvf', limit: 2 });
    expect(dvf.entries.map((e) => e.start_time.slice(11, 13))).toEqual(['04', '02']);
    expect(dvf.runs!.map((r) => [r.run.status, r.run.duration_seconds])).toEqual([
      ['success', 14],
      ['success', 12],
    ]);
    const since = await readHistory(deps(s), { sinceMs: Date.parse('2026-11-22T03:00:00Z'), limit: 50 });
    expect(since.entries.map((e) => e.start_time.slice(11, 13))).toEqual(['05', '04', '03']);
  });

  it('keeps every line when many instances save on the same day at once (generation preconditions)', async () => {
    const s = await stores();
    const saver = new ReportStore(s.reports, silentLogger, () => NOW);
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        saver.save(
          reportAt(
            `2026-11-22T14:${String(i).padStart(2, '0')}:00Z`,
            (t0) => [outcome('a', 'success', t0, 0, 1)],
            {
              suffix: `c0ffee${String(i).padStart(2, '0')}`,
            },
          ),
        ),
      ),
    );
    const result = await readHistory(deps(s), { limit: 50 });
    expect(result.entries).toHaveLength(12);
    expect(new Set(result.entries.map((e) => e.execution_id)).size).toBe(12);
  });

  it('rolls a finished month into one object and reads it instead of its days', async () => {
    const s = await stores();
    const october = Date.parse('2026-10-05T00:00:00Z');
    const saver = new ReportStore(s.reports, silentLogger, () => october);
    for (let d = 1; d <= 20; d++) {
      await saver.save(
        reportAt(`2026-10-${String(d).padStart(2, '0')}T03:00:00Z`, (t0) => [
          outcome('insee', 'success', t0, 0, 5),
        ]),
      );
    }
    const later = new ReportStore(s.reports, silentLogger, () => NOW);
    await later.save(reportAt('2026-11-22T03:00:00Z', (t0) => [outcome('insee', 'success', t0, 0, 6)]));
    // Saves never roll (a slow listing must not hold up a report); the first reader past October's
    // day of grace does, reading its 20 days once.
    expect(await s.reports.get('index/months/2026-10.jsonl')).toBeNull();
    const first = await readHistory(deps(s), { limit: 15 });
    expect(first.objects_read).toBe(1 + 20 + 1);
    expect(await s.reports.get('index/months/2026-10.jsonl')).not.toBeNull();

    const counting = countingStore(s.reports);
    const result = await readHistory(deps({ reports: counting, state: s.state }), { limit: 15 });
    expect(result.entries).toHaveLength(15);
    expect(result.entries[0]!.start_time).toBe('2026-11-22T03:00:00.000Z');
    expect(result.entries[1]!.start_time).toBe('2026-10-20T03:00:00.000Z');
    expect(result.entries[14]!.start_time).toBe('2026-10-07T03:00:00.000Z');
    // November's one day, then October in one object instead of 20.
    expect(counting.gets).toEqual(['index/days/2026-11-22.jsonl', 'index/months/2026-10.jsonl']);
  });

  it('a reader rolls a finished month nobody rolled, and answers the same', async () => {
    const s = await stores();
    const index = new HistoryIndex(s.reports, silentLogger, () => Date.parse('2026-09-10T00:00:00Z'));
    const reports = [1, 2, 3].map((d) =>
      reportAt(`2026-09-0${d}T01:00:00Z`, (t0) => [outcome('plu', 'success', t0, 0, d)]),
    );
    for (const r of reports) await index.append(historyEntry(r));
    const before = await readHistory(deps(s, Date.parse('2026-09-10T00:00:00Z')), { limit: 10 });
    const after = await readHistory(deps(s), { limit: 10 });
    expect(after.entries).toEqual(before.entries);
    expect(await s.reports.get('index/months/2026-09.jsonl')).not.toBeNull();
    expect((await readHistory(deps(s), { limit: 10 })).objects_read).toBe(1);
  });

  it('settles Cloud Tasks runs from their run records', async () => {
    const s = await stores();
    const report = reportAt(
      '2026-11-22T08:00:00Z',
      (t0) => [outcome('dvf', 'scheduled', t0, null, null, 0)],
      { mode: 'tasks' },
    );
    await new ReportStore(s.reports, silentLogger, () => NOW).save(report);
    await putJson(s.state, `runs/${report.execution_id}/dvf.json`, {
      collector: 'dvf',
      executionId: report.execution_id,
      scheduledTime: report.start_time,
      attempt: 2,
      status: 'failed',
      startTime: '2026-11-22T08:00:02.000Z',
      endTime: '2026-11-22T08:00:09.000Z',
      durationSeconds: 7,
      error: 'boom',
      errorType: 'CollectorError',
      retryable: false,
      reason: null,
      result: null,
      manifest: null,
    });
    const [entry] = (await readHistory(deps(s), { limit: 1 })).entries;
    expect(entry!.collectors['dvf']).toEqual({
      status: 'failed',
      start_time: '2026-11-22T08:00:02.000Z',
      duration_seconds: 7,
      attempts: 2,
      error_type: 'CollectorError',
    });
    expect(entry!.summary).toMatchObject({ failed: 1, scheduled: 0 });
  });

  it('rebuilds the index from the stored reports, and skips a damaged line with a warning', async () => {
    const s = await stores();
    for (const start of ['2026-11-20T01:00:00Z', '2026-11-21T01:00:00Z']) {
      const r = reportAt(start, (t0) => [outcome('dvf', 'success', t0, 0, 2)]);
      await s.reports.put(
        `${start.slice(0, 10).replace(/-/g, '/')}/${r.execution_id}.json`,
        JSON.stringify(r),
      );
    }
    expect((await readHistory(deps(s), { limit: 10 })).entries).toHaveLength(0);
    expect(await rebuildHistory(deps(s))).toEqual({ reports: 2, days: 2 });
    expect((await readHistory(deps(s), { limit: 10 })).entries).toHaveLength(2);

    const day = (await s.reports.get('index/days/2026-11-21.jsonl'))!;
    await s.reports.put('index/days/2026-11-21.jsonl', day.data.toString('utf8') + '{"half a line\n');
    const { logger, entries } = captureLogger();
    const result = await readHistory({ ...deps(s), logger }, { limit: 10 });
    expect(result.entries).toHaveLength(2);
    expect(entries.map((e) => e.message)).toContainEqual(
      expect.stringMatching(/index\/days\/2026-11-21\.jsonl: 1 unreadable history line\(s\) skipped/),
    );
  });
});
