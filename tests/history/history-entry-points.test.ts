import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { main, type CliIO } from '../../src/cli/main';
import { createApp } from '../../src/http/app';
import { ReportStore } from '../../src/report/report-store';
import { openStore } from '../../src/store/open';
import { silentLogger } from '../../src/util/log';
import { FakeClock } from '../support/fake-clock';
import { outcome, reportAt } from '../support/reports';
import { testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';

const NOW = '2026-11-22T15:00:00Z';
const yaml = `
timezone: Europe/Paris
scheduler: { auth: { type: none } }
collectors:
  dvf: { url: "http://127.0.0.1:9/dvf", schedule: "0 4 * * *", timeout_seconds: 480 }
  xmp: { url: "http://127.0.0.1:9/xmp", schedule: "*/30 * * * *", timeout_seconds: 240 }
`;

describe.each(STORE_KINDS)('history through its entry points, on the %s store', (kind) => {
  const storage = storeFixture(kind);
  const dirs = tempDirs();
  let base: string;
  let config: string;

  beforeAll(async () => {
    await storage.setup();
    base = storage.uri('history');
    const dir = dirs.make('history');
    config = path.join(dir, 'config.yaml');
    writeFileSync(
      config,
      `storage: { reports: ${base}/reports, raw: ${base}/raw, state: ${base}/state }\n${yaml}`,
    );
    const saver = new ReportStore(await openStore(`${base}/reports`), silentLogger, () => Date.parse(NOW));
    // Three days of a 04:00 dvf run (10, 20, 30 s) and half-hourly xmp runs around them.
    for (const [day, dvfSeconds] of [
      ['20', 10],
      ['21', 20],
      ['22', 30],
    ] as const) {
      await saver.save(
        reportAt(`2026-11-${day}T03:00:00Z`, (t0) => [
          outcome('dvf', 'success', t0, 0, dvfSeconds),
          outcome('xmp', 'success', t0, 0, 2),
        ]),
      );
      await saver.save(
        reportAt(`2026-11-${day}T03:30:00Z`, (t0) => [
          outcome('xmp', 'failed', t0, 0, 1, 3, { error: 'HTTP 503', errorType: 'HTTPError' }),
        ]),
      );
    }
  });
  afterAll(async () => {
    await storage.teardown();
    dirs.cleanup();
  });

  async function cli(args: string[]) {
    let stdout = '';
    let stderr = '';
    const io: CliIO = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {}, cwd: '/' };
    const code = await main([...args, '--config', config], io, { clock: new FakeClock(NOW) });
    return { code, stdout, stderr };
  }

  it('`scheduler history` prints one line per execution, newest first', async () => {
    const { code, stdout } = await cli(['history', '--limit', '3']);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^STARTED \(UTC\)\s+TRIGGER\s+MODE\s+OK\s+FAILED\s+SKIPPED\s+PENDING\s+DURATION\s+EXECUTION$/,
    );
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(
        /^2026-11-22 03:30:00Z\s+cloud-scheduler\/tick\s+http\s+0\s+1\s+0\s+0\s+30\.00 s\s+20261122T033000Z-a1b2c3d4$/,
      ),
      expect.stringMatching(
        /^2026-11-22 03:00:00Z\s+cloud-scheduler\/tick\s+http\s+2\s+0\s+0\s+0\s+30\.00 s\s+/,
      ),
      expect.stringMatching(/^2026-11-21 03:30:00Z\s+/),
    ]);
  });

  it('`--collector` lists that collector’s runs with durations and their median', async () => {
    const { code, stdout } = await cli(['history', '--collector', 'dvf', '--since', '2026-11-21']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^dvf: 2 runs, 0 failed, median successful run 25\.00 s$/m);
    expect(stdout).toMatch(/^2026-11-22 03:00:00Z\s+success\s+30\.00 s\s+1\s+20261122T030000Z-a1b2c3d4$/m);
    expect(stdout).toMatch(/^2026-11-21 03:00:00Z\s+success\s+20\.00 s\s+1\s+/m);
    expect(stdout).not.toMatch(/2026-11-20/);
  });

  it.each([
    [['history', '--limit', '0'], /--limit: "0" is not a whole number between 1 and 1000/],
    [['history', '--since', 'yesterday'], /--since: "yesterday" is not an ISO 8601 time/],
    [
      ['history', '--collector', 'dfv'],
      /--collector: "dfv" is not a configured collector \(did you mean "dvf"\?\)/,
    ],
  ])('exits 2 with a clear message for %p', async (args, message) => {
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('`scheduler plan` takes expected durations from the history (median of recent successful runs)', async () => {
    const { code, stdout } = await cli(['plan', '--json', '--from', '2026-11-22T00:00:00Z', '--hours', '6']);
    expect(code).toBe(0);
    const plan = JSON.parse(stdout) as {
      collectors: { name: string; expected_seconds: number; duration_source: string }[];
    };
    expect(plan.collectors.map((c) => [c.name, c.expected_seconds, c.duration_source])).toEqual([
      ['dvf', 20, 'history'],
      ['xmp', 2, 'history'],
    ]);
  });

  it('GET /reports?collector=&limit= answers the same history as JSON, and 400 on a bad parameter', async () => {
    const dir = dirs.make('history-app');
    const services = await testServices(
      `storage: { reports: ${base}/reports, raw: ${base}/raw, state: ${base}/state }\n${yaml}`,
      dir,
      { clock: new FakeClock(NOW) },
    );
    try {
      const app = createApp(async () => services);
      const get = (query: Record<string, string>) =>
        app({ method: 'GET', path: '/reports', headers: {}, body: undefined, query });
      const all = await get({ limit: '2' });
      expect(all.status).toBe(200);
      const body = all.body as { entries: { execution_id: string }[]; runs?: unknown };
      expect(body.entries.map((e) => e.execution_id)).toEqual([
        '20261122T033000Z-a1b2c3d4',
        '20261122T030000Z-a1b2c3d4',
      ]);
      expect(body.runs).toBeUndefined();

      const xmp = await get({ collector: 'xmp', limit: '4' });
      const runs = (xmp.body as { runs: { run: { status: string; attempts: number } }[] }).runs;
      expect(runs.map((r) => [r.run.status, r.run.attempts])).toEqual([
        ['failed', 3],
        ['success', 1],
        ['failed', 3],
        ['success', 1],
      ]);

      const bad = await get({ limit: 'lots' });
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({
        error: { code: 'REQUEST_INVALID', message: 'limit: "lots" is not a whole number between 1 and 1000' },
      });
      const unknown = await get({ collector: 'nope' });
      expect(unknown.status).toBe(400);
      const post = await app({ method: 'POST', path: '/reports', headers: {}, body: undefined });
      expect(post.status).toBe(405);
    } finally {
      await services.close();
    }
  });
});
