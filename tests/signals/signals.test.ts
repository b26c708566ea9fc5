import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ExecutionReport } from '../../src/report/report';
import type { RunRecord } from '../../src/runtime/contract';
import { openStore } from '../../src/store/open';
import { readJson } from '../../src/store/types';
import {
  CLI,
  freePort,
  listening,
  post,
  ROOT,
  startChild,
  startFunction,
  untilPrinted,
} from '../support/children';
import { collectorServer } from '../support/collector-servers';
import type { TestServer } from '../support/http';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';

// SIGINT and SIGTERM in real processes: `scheduler run` (Ctrl-C) and the function under
// functions-framework (Cloud Run's SIGTERM before it stops an instance). The running collector, served
// in-process and stuck on its upstream, is cancelled; its run record says so, its group lease is
// released, the report is written and answered, and the process exits (130/143 for the CLI).

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

describe.each(STORE_KINDS)('stop signals on the %s store', (kind) => {
  const storage = storeFixture(kind);
  let upstream: TestServer;
  beforeAll(async () => {
    await storage.setup();
    // geo.api.gouv.fr that never answers: insee-contours waits on it until it is stopped.
    upstream = await collectorServer({ kind: 'hang' });
  });
  afterAll(async () => {
    await upstream.close();
    await storage.teardown();
  });
  let n = 0;

  function config(): { file: string; base: string } {
    const base = storage.uri(`case-${++n}`);
    const file = path.join(dirs.make('signals'), 'config.yaml');
    writeFileSync(
      file,
      `timezone: UTC
storage: { reports: ${base}/reports, raw: ${base}/raw, state: ${base}/state }
scheduler:
  auth: { type: none }
  deadline_seconds: 300
  report_budget_seconds: 20
collectors:
  insee-contours:
    group: geo
    timeout_seconds: 240
    options: { departements: ['75'], base_url: "${upstream.url}" }
`,
    );
    return { file, base };
  }

  /** The latest report, its collector's run record, and whether the group lease is still there. */
  async function outcome(base: string) {
    const reports = await openStore(`${base}/reports`);
    const state = await openStore(`${base}/state`);
    const report = (await readJson<ExecutionReport>(reports, 'latest.json'))!.value;
    const record = (await readJson<RunRecord>(state, `runs/${report.execution_id}/insee-contours.json`))!
      .value;
    return { report, record, lease: await state.get('leases/group-geo.json') };
  }

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    'scheduler run, %s: collector and run record cancelled, lease released, report written, exit %i',
    async (signal, exit) => {
      const { file, base } = config();
      const before = upstream.requests.length;
      const child = startChild([CLI, 'run', '--config', file]);
      await upstream.waitForRequests(before + 1);
      await untilPrinted(child, (_out, err) => err.includes('→ insee-contours: attempt 1'), 'dispatch');
      child.process.kill(signal);
      const { code } = await child.exited;
      expect(code).toBe(exit);
      expect(child.stderr()).toContain(`${signal} received: cancelling the running collectors`);
      expect(child.stdout()).toMatch(/^insee-contours\s+cancelled\s+/m);
      expect(child.stdout()).toMatch(/report: .*\.json/);

      const { report, record, lease } = await outcome(base);
      expect(report.collectors['insee-contours']).toMatchObject({
        status: 'cancelled',
        error_type: 'Cancelled',
      });
      expect(report.summary).toMatchObject({ total: 1, cancelled: 1 });
      expect(record).toMatchObject({ status: 'cancelled', errorType: 'Cancelled', retryable: true });
      expect(record.error).toMatch(new RegExp(`^${signal} received`));
      expect(lease).toBeNull();
    },
  );

  it('the function, SIGTERM: answers the report (503, cancelled), records it, releases the lease and exits', async () => {
    const { file, base } = config();
    const fn = await startFunction({ SCHEDULER_CONFIG: file });
    try {
      const before = upstream.requests.length;
      const answer = post(`${fn.url}/run`);
      await upstream.waitForRequests(before + 1);
      fn.process.kill('SIGTERM');
      const res = await answer;
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        collectors: { 'insee-contours': { status: 'cancelled', error_type: 'Cancelled' } },
        summary: { cancelled: 1 },
      });
      await fn.exited;
      expect(await listening(fn.url)).toBe(false);

      const { report, record, lease } = await outcome(base);
      expect(report.execution_id).toBe((res.body as ExecutionReport).execution_id);
      expect(record).toMatchObject({ status: 'cancelled', errorType: 'Cancelled' });
      expect(lease).toBeNull();
    } finally {
      fn.process.kill('SIGKILL');
    }
  });
});

describe('npm start', () => {
  it('execs the server: killing the PID the shell started stops it, leaving nothing listening', async () => {
    const start = (
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
    ).scripts.start;
    // What runs after the build, as npm runs it: under sh, with node_modules/.bin on the PATH.
    const serve = start.slice(start.indexOf('&&') + 2).trim();
    expect(serve).toMatch(/^exec functions-framework /);
    const file = path.join(dirs.make('npm-start'), 'config.yaml');
    writeFileSync(file, 'collectors:\n  dvf: {}\n');
    for (let attempt = 0; ; attempt++) {
      const port = String(await freePort());
      const shell = spawn('sh', ['-c', serve], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          PORT: port,
          SCHEDULER_CONFIG: file,
          PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env['PATH']}`,
        },
      });
      let out = '';
      let err = '';
      shell.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      shell.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      const exited = once(shell, 'exit');
      await Promise.race([
        exited,
        new Promise<void>((resolve) =>
          shell.stdout!.on('data', () => out.includes('Serving function...') && resolve()),
        ),
      ]);
      if (shell.exitCode !== null && attempt < 3 && err.includes('EADDRINUSE')) continue;
      expect(out).toContain('Serving function...');
      const url = `http://127.0.0.1:${port}`;
      expect(await listening(url)).toBe(true);
      shell.kill('SIGTERM');
      await exited;
      expect(await listening(url)).toBe(false);
      return;
    }
  });
});
