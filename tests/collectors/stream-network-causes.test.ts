import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { main, type CliIO } from '../../src/cli/main';
import { FakeClock } from '../support/fake-clock';
import { refusedUrl, UNRESOLVABLE_HOST } from '../support/network-failures';
import { tempDirs } from '../support/temp';

/**
 * The streaming downloads (DVF's gzipped CSVs, SIRENE's stock zips) name why they got no answer, as
 * the other upstream calls do: offline, `scheduler run` said "fetch failed" for them.
 */

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

/** Each collector with its base URL option, and the file it streams under that base. */
const COLLECTORS = [
  {
    name: 'sirene',
    options: (base: string) => `{ source: stock, stock_base_url: "${base}/insee-sirene" }`,
    file: '/insee-sirene/StockEtablissement_utf8.zip',
  },
  {
    name: 'dvf',
    options: (base: string) => `{ files: national, years: [2024], base_url: "${base}/geo-dvf/latest/csv" }`,
    file: '/geo-dvf/latest/csv/2024/full.csv.gz',
  },
];

interface ReportEntry {
  status: string;
  error: string;
  error_type: string;
  attempts: number;
}

/** `scheduler run --json` on one collector pointed at `base`, in this process with a fake clock. */
async function run(collector: (typeof COLLECTORS)[number], base: string) {
  const dir = dirs.make('stream-causes');
  const config = path.join(dir, 'config.yaml');
  writeFileSync(
    config,
    `storage: { reports: ${dir}/reports, raw: ${dir}/raw, state: ${dir}/state }
scheduler:
  auth: { type: none }
  retry: { attempts: 2, min_backoff_seconds: 1, max_backoff_seconds: 1 }
collectors:
  ${collector.name}: { options: ${collector.options(base)} }
`,
  );
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    cwd: process.cwd(),
  };
  const code = await main(
    ['run', '--config', config, '--collectors', collector.name, '--json', '--verbose'],
    io,
    { clock: new FakeClock(), random: () => 0.5 },
  );
  const report = JSON.parse(stdout) as { collectors: Record<string, ReportEntry> };
  return { code, entry: report.collectors[collector.name]!, stderr };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.each(COLLECTORS)('the $name streaming download without an answer', (collector) => {
  it('names a refused connection, retried (it said "fetch failed")', async () => {
    const base = await refusedUrl();
    const { code, entry, stderr } = await run(collector, base);
    expect(code).toBe(1);
    expect(entry).toMatchObject({ status: 'failed', error_type: 'ConnectionRefusedError' });
    expect(entry.error).toMatch(
      new RegExp(`connection refused \\(ECONNREFUSED\\): GET ${escape(base + collector.file)}$`),
    );
    expect(entry.error).not.toMatch(/fetch failed/);
    // Retried by the download itself (UPSTREAM_RETRY: 4 attempts, so 3 waits) in each dispatch attempt.
    expect(stderr.match(/download failed, retrying/g)?.length).toBe(3 * entry.attempts);
  });

  it('names a host that does not resolve, and does not retry it', async () => {
    const base = `http://${UNRESOLVABLE_HOST}`;
    const { code, entry, stderr } = await run(collector, base);
    expect(code).toBe(1);
    expect(entry).toMatchObject({ status: 'failed', error_type: 'NameResolutionError', attempts: 1 });
    expect(entry.error).toBe(
      `could not resolve host ${UNRESOLVABLE_HOST} (ENOTFOUND): GET ${base}${collector.file}`,
    );
    expect(stderr).not.toMatch(/download failed, retrying/);
  });
});
