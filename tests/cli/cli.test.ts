import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { main, type CliIO } from '../../src/cli/main';
import { collectorServer } from '../support/collector-servers';
import { FakeClock } from '../support/fake-clock';
import type { TestServer } from '../support/http';
import { refusedUrl, UNRESOLVABLE_HOST } from '../support/network-failures';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { startGeoUpstream } from '../support/upstreams/geo';

const dirs = tempDirs();
const servers: TestServer[] = [];
let ok: TestServer;
let failing: TestServer;

beforeAll(async () => {
  ok = await collectorServer({ kind: 'ok', result: { records: 7 } });
  failing = await collectorServer({ kind: 'status', status: 503 });
  servers.push(ok, failing);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  dirs.cleanup();
});

describe.each(STORE_KINDS)('the CLI on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;

  function setup(extra = ''): { dir: string; config: string } {
    const dir = dirs.make('cli');
    const base = storage.uri(`case-${++n}`);
    const config = path.join(dir, 'config.yaml');
    writeFileSync(
      config,
      `timezone: Europe/Paris
storage: { reports: ${base}/reports, raw: ${base}/raw, state: ${base}/state }
scheduler:
  auth: { type: none }
  retry: { attempts: 2, min_backoff_seconds: 1, max_backoff_seconds: 1 }
collectors:
  good: { url: "${ok.url}/collect", schedule: "0 14 * * *" }
  bad: { url: "${failing.url}/collect", schedule: "0 2 * * *" }
${extra}`,
    );
    return { dir, config };
  }

  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io: CliIO = {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      env: {},
      cwd: process.cwd(),
    };
    const code = await main(args, io, { clock: new FakeClock(), random: () => 0.5 });
    return { code, stdout, stderr };
  }

  describe('scheduler run', () => {
    it('prints live progress and a summary table, and exits 1 when a collector failed', async () => {
      const { config } = setup();
      const { code, stdout, stderr } = await cli(['run', '--config', config]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/→ good: attempt 1 → http:\/\/127\.0\.0\.1:\d+\/collect/);
      expect(stderr).toMatch(/↻ bad: retrying in 0\.5 s \(attempt 2\)/);
      expect(stderr).toMatch(/✓ good: success/);
      expect(stderr).toMatch(/✗ bad: failed .*\(HTTPError\)/);
      expect(stdout).toMatch(/^COLLECTOR\s+STATUS\s+HTTP\s+ATTEMPTS\s+DURATION\s+DETAIL$/m);
      expect(stdout).toMatch(/^good\s+success\s+200\s+1\s+\d+\.\d\d s\s+7 records$/m);
      expect(stdout).toMatch(/^bad\s+failed\s+503\s+2\s+/m);
      expect(stdout).toMatch(/2 collectors, 1 succeeded, 1 failed, 0 skipped/);
      expect(stdout).toMatch(/report: .*\/reports\/2026\/11\/22\/20261122T140000Z-[0-9a-f]{8}\.json/);
    });

    it('runs the collectors named by --collectors and exits 0 when all succeed', async () => {
      const { config } = setup();
      const { code, stdout } = await cli(['run', '--config', config, '--collectors', 'good']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/1 collector, 1 succeeded, 0 failed/);
    });

    it('--at runs the collectors due at that tick', async () => {
      const { config } = setup();
      const { code, stdout } = await cli([
        'run',
        '--config',
        config,
        '--at',
        '2026-11-22T13:00:00Z',
        '--json',
      ]);
      expect(code).toBe(0);
      const report = JSON.parse(stdout);
      expect(Object.keys(report.collectors)).toEqual(['good']);
      expect(report.trigger).toMatchObject({
        source: 'cli',
        kind: 'tick',
        scheduled_time: '2026-11-22T13:00:00.000Z',
      });
    });

    it('--dry-run prints what would be dispatched and where, and sends nothing', async () => {
      const { config } = setup();
      const before = ok.requests.length + failing.requests.length;
      const { code, stdout } = await cli(['run', '--config', config, '--dry-run']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/dry run \(http, manual\): 2 collectors would be dispatched; nothing sent/);
      expect(stdout).toContain(`good                 POST ${ok.url}/collect`);
      expect(ok.requests.length + failing.requests.length).toBe(before);
    });

    it('--dry-run lists what the config file sets that nothing uses (the original layout’s sections)', async () => {
      const { config } = setup(
        'features: { enable_caching: true }\nprocessing_config: { batch_size: 10 }\ndata_sources: { dvf: { years: [2024] } }\n',
      );
      const text = await cli(['run', '--config', config, '--dry-run']);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/not used from .*config\.yaml \(3\):/);
      expect(text.stdout).toMatch(
        /^ {2}features: feature flags of the original project; nothing here reads them$/m,
      );
      expect(text.stdout).toMatch(/^ {2}processing_config: /m);
      expect(text.stdout).toMatch(/^ {2}data_sources\.dvf: no configured collector runs it$/m);
      const json = await cli(['run', '--config', config, '--dry-run', '--json']);
      expect(JSON.parse(json.stdout).config_ignored).toEqual([
        { path: 'processing_config', why: expect.any(String) },
        { path: 'features', why: expect.any(String) },
        { path: 'data_sources.dvf', why: 'no configured collector runs it' },
      ]);
    });

    it.each([
      [['run', '--collectors', 'goood'], /unknown collector "goood" \(did you mean "good"\?\)/],
      [
        ['run', '--at', 'tomorrow'],
        /option '--at <time>' argument 'tomorrow' is invalid\. expected an ISO 8601 time/,
      ],
      [['run', '--mode', 'queue'], /argument 'queue' is invalid\. Allowed choices are http, tasks/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ])('exits 2 with a clear message for %p', async (args, message) => {
      const { config } = setup();
      const { code, stderr } = await cli([...args, '--config', config]);
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
    });

    it('shows the cause of a failure in the table, not the embedded collector route', async () => {
      const { config } = setup(
        `  insee-contours: { options: { departements: ['75'], base_url: "${await refusedUrl()}" } }\n`,
      );
      const { code, stdout } = await cli(['run', '--config', config, '--collectors', 'insee-contours']);
      expect(code).toBe(1);
      // The report keeps the whole story; the table row shows the part a reader acts on.
      expect(stdout).toMatch(
        /^insee-contours\s+failed\s+503\s+2\s+\d+\.\d\d s\s+ConnectionRefusedError: connection refused \(ECONNREFUSED\): GET http:/m,
      );
      expect(stdout).not.toMatch(/collectors\/insee-contours answ/);
    });

    it('exits 2 naming the file and line of a config error', async () => {
      const { config } = setup('  typo: { shedule: "0 1 * * *" }\n');
      const { code, stderr } = await cli(['run', '--config', config]);
      expect(code).toBe(2);
      expect(stderr).toMatch(
        /\/cli-\w+\/config\.yaml:9 collectors\.typo\.shedule: unknown key; did you mean "schedule"\?/,
      );
    });
  });

  describe('scheduler status', () => {
    it('shows the latest report, or one by id, as a table or JSON', async () => {
      const { config } = setup();
      const none = await cli(['status', '--config', config]);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/no execution report yet/);

      const run = await cli(['run', '--config', config, '--collectors', 'good', '--json']);
      const id = JSON.parse(run.stdout).execution_id as string;
      const latest = await cli(['status', '--config', config]);
      expect(latest.code).toBe(0);
      expect(latest.stdout).toMatch(/^good\s+success\s+200/m);
      expect(latest.stdout).toContain(`execution ${id}`);
      const byId = await cli(['status', '--config', config, '--id', id, '--json']);
      expect(JSON.parse(byId.stdout).execution_id).toBe(id);
      const bad = await cli(['status', '--config', config, '--id', '../../etc']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/is not an execution id/);
    });
  });

  describe('the installed command', () => {
    const bin = path.resolve(__dirname, '../../bin/scheduler.js');
    const run = promisify(execFile);

    it('runs as a separate process with exit codes and JSON output', async () => {
      const { config } = setup();
      const env = { ...process.env, SCHEDULER_CONFIG: config };
      const good = await run(process.execPath, [bin, 'run', '--collectors', 'good', '--json'], { env });
      expect(JSON.parse(good.stdout).summary).toMatchObject({ total: 1, succeeded: 1 });
      await expect(run(process.execPath, [bin, 'run', '--collectors', 'bad'], { env })).rejects.toMatchObject(
        {
          code: 1,
        },
      );
      // A host that does not resolve is named as such, tried once, and the table says so.
      const insee = `  insee-contours: { options: { departements: ['75'], base_url: "http://${UNRESOLVABLE_HOST}" } }\n`;
      const unresolved = setup(insee);
      const failed = await run(process.execPath, [bin, 'run', '--collectors', 'insee-contours'], {
        env: { ...process.env, SCHEDULER_CONFIG: unresolved.config },
      }).catch((error: { code: number; stdout: string; stderr: string }) => error);
      expect(failed).toMatchObject({ code: 1 });
      expect(failed.stdout).toMatch(
        /^insee-contours\s+failed\s+200\s+1\s+\S+ s\s+NameResolutionError: could not resolve host x{20}/m,
      );
      expect(failed.stderr).not.toMatch(/upstream call failed, retrying/);
      const help = await run(process.execPath, [bin, '--help'], { env });
      expect(help.stdout).toMatch(/Usage: scheduler \[options\] \[command\]/);
      expect(help.stdout).toMatch(/run \[options\]/);
    });
  });

  describe('scheduler collect', () => {
    it('runs one collector in this process and prints what it wrote', async () => {
      const geo = await startGeoUpstream(['75', '92']);
      try {
        const { config } = setup(
          `  insee-contours: { options: { departements: ['75'], base_url: "${geo.url}" } }\n`,
        );
        const { code, stdout } = await cli([
          'collect',
          'insee-contours',
          '--config',
          config,
          '--options',
          '{"departements":["75","92"]}',
        ]);
        expect(code).toBe(0);
        expect(stdout).toMatch(/^insee-contours: success in \d+\.\d\d s: 28 records, 2 objects$/m);
        expect(stdout).toMatch(/^manifest: .*insee-contours\/manifests\/\d{8}T\d{6}Z\.json$/m);
      } finally {
        await geo.close();
      }
    });

    it('exits 1 when the run fails, and 2 for an unknown collector', async () => {
      const { config } = setup();
      const bad = await cli([
        'collect',
        'insee-contours',
        '--config',
        config,
        '--options',
        '{"departements":["99"]}',
        '--json',
      ]);
      expect(bad.code).toBe(1);
      expect(JSON.parse(bad.stdout)).toMatchObject({
        status: 'failed',
        retryable: false,
        error: expect.stringMatching(/options\.departements\.0: "99" is not a département/),
      });
      const unknown = await cli(['collect', 'insee-contour', '--config', config]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/no collector named "insee-contour"/);
    });
  });

  describe('scheduler plan', () => {
    const overlapping = `  xmp: { url: "${'http://127.0.0.1:9/x'}", schedule: "*/30 * * * *", group: acct, timeout_seconds: 300 }
  xmp-daily: { url: "${'http://127.0.0.1:9/y'}", schedule: "0 1 * * *", group: acct, timeout_seconds: 600 }
`;

    it('prints the timeline, the overlaps and staggered schedules, and --check exits 1 on an overlap', async () => {
      const { config } = setup(overlapping);
      const { code, stdout } = await cli([
        'plan',
        '--config',
        config,
        '--from',
        '2026-11-22T00:00:00+01:00',
        '--check',
      ]);
      expect(code).toBe(1);
      expect(stdout).toMatch(/^Schedule from 2026-11-22 00:00 to 2026-11-23 00:00 \(Europe\/Paris\)$/m);
      expect(stdout).toMatch(/^xmp-daily \[acct\]\s+\.{4}X/m);
      expect(stdout).toMatch(
        /1 overlap within credential groups:\n {2}\[acct\] xmp at 2026-11-22 01:00 and xmp-daily at 2026-11-22 01:00 overlap for 5\.0 min/,
      );
      expect(stdout).toMatch(/xmp-daily\s+"0 1 \* \* \*" {2}-> {2}"5 1 \* \* \*"/);
      for (const line of stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
    });

    it('--check exits 0 when groups do not overlap, and --json gives the runs', async () => {
      const { config } = setup(overlapping.replace('"0 1 * * *"', '"5 1 * * *"'));
      const { code, stdout } = await cli([
        'plan',
        '--config',
        config,
        '--from',
        '2026-11-22T00:00:00+01:00',
        '--hours',
        '6',
        '--check',
        '--json',
      ]);
      expect(code).toBe(0);
      const plan = JSON.parse(stdout);
      expect(plan.overlaps).toEqual([]);
      expect(plan.collectors.find((c: { name: string }) => c.name === 'xmp').runs).toHaveLength(12);
    });

    it('takes expected durations from recent reports', async () => {
      const { config } = setup();
      await cli(['run', '--config', config, '--collectors', 'good']);
      const { stdout } = await cli(['plan', '--config', config, '--json']);
      const good = JSON.parse(stdout).collectors.find((c: { name: string }) => c.name === 'good');
      expect(good).toMatchObject({ duration_source: 'history' });
    });

    it('makes scheduler run warn about overlaps', async () => {
      const { config } = setup(overlapping);
      const { stderr } = await cli(['run', '--config', config, '--collectors', 'good']);
      expect(stderr).toMatch(/warning: members of group acct overlap \d+ times? in the next 24 h/);
    });
  });
});
