import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ADVISORY_BUDGET_MS } from '../../src/cli/plan';
import { main, type CliIO } from '../../src/cli/main';
import type { ServiceOptions } from '../../src/services';
import { openGcsStore } from '../../src/store/gcs-store';
import { openStore } from '../../src/store/open';
import type { ObjectStore } from '../../src/store/types';
import { CancelledError } from '../../src/util/cancel';
import { collectorServer } from '../support/collector-servers';
import { FakeClock } from '../support/fake-clock';
import type { TestServer } from '../support/http';
import { gcsLocation, STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { until } from '../support/wait';

// `scheduler run` when things go wrong around it: the report history unreadable (advice is skipped,
// the run goes on), a tick with nothing due, and a cancellation's exit code.

const dirs = tempDirs();
let ok: TestServer;
let hanging: TestServer;
beforeAll(async () => {
  ok = await collectorServer({ kind: 'ok', result: { records: 7 } });
  hanging = await collectorServer({ kind: 'hang' });
});
afterAll(async () => {
  await Promise.all([ok.close(), hanging.close()]);
  dirs.cleanup();
});

async function cli(args: string[], overrides: ServiceOptions, seen: { stderr: string } = { stderr: '' }) {
  let stdout = '';
  const io: CliIO = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (seen.stderr += t),
    env: {},
    cwd: process.cwd(),
  };
  const code = await main(args, io, { random: () => 0.5, ...overrides });
  return { code, stdout, stderr: seen.stderr };
}

describe.each(STORE_KINDS)('scheduler run on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  afterEach(() => storage.gcs?.clearFaults());
  let n = 0;

  /** Two group members (never run here) give the overlap advice something to plan. */
  function config({ groups = true } = {}): { file: string; base: string } {
    const base = storage.uri(`case-${++n}`);
    const file = path.join(dirs.make('cli'), 'config.yaml');
    writeFileSync(
      file,
      `timezone: UTC
storage: { reports: ${base}/reports, raw: ${base}/raw, state: ${base}/state }
scheduler:
  auth: { type: none }
  report_budget_seconds: 60
collectors:
  good: { url: "${ok.url}/collect", schedule: "0 14 * * *" }
  slow: { url: "${hanging.url}/collect", schedule: "0 3 * * *", timeout_seconds: 600 }
${
  groups
    ? `  xa: { url: "${ok.url}/collect", schedule: "0 4 * * *", group: account }
  xb: { url: "${ok.url}/collect", schedule: "30 4 * * *", group: account }
`
    : ''
}`,
    );
    return { file, base };
  }

  it('skips the overlap advice with a one-line note when the report history does not answer, and runs', async () => {
    const { file } = config();
    const clock = new FakeClock('2026-11-22T14:00:00Z');
    let listing = 0;
    const run = cli(['run', '--config', file, '--collectors', 'good'], {
      clock,
      openStore: async (uri) => {
        const store = await openStore(uri);
        return uri.endsWith('/reports') ? stalledLists(store, () => listing++) : store;
      },
    });
    await until(() => listing > 0, 'history read started');
    const before = ok.requests.length;
    clock.advance(ADVISORY_BUDGET_MS);
    const { code, stdout, stderr } = await run;
    expect(stderr).toContain(
      `note: report history skipped (not read within ${ADVISORY_BUDGET_MS / 1000} s); timeouts stand in for run times\n`,
    );
    expect(ok.requests.length).toBe(before + 1);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^good\s+success\s+200/m);
  });

  it('reads no report history for the advice when no collector has a group (only members can overlap)', async () => {
    const { file } = config({ groups: false });
    let listing = 0;
    const { code, stderr } = await cli(['run', '--config', file, '--collectors', 'good'], {
      clock: new FakeClock('2026-11-22T14:00:00Z'),
      openStore: async (uri) => {
        const store = await openStore(uri);
        return uri.endsWith('/reports') ? stalledLists(store, () => listing++) : store;
      },
    });
    expect(code).toBe(0);
    expect(listing).toBe(0);
    expect(stderr).not.toMatch(/report history|overlap/);
  });

  if (kind === 'gcs') {
    it('with the store down, still dispatches, answers the report and says it was not stored', async () => {
      const { file } = config();
      storage.gcs!.failNext(100_000, { status: 503 });
      const clock = new FakeClock('2026-11-22T14:00:00Z');
      const before = ok.requests.length;
      // The store's retries wait on the fake clock: its 30 s of retries pass at once.
      const { code, stdout, stderr } = await cli(['run', '--config', file, '--collectors', 'good'], {
        clock,
        openStore: (uri) => openGcsStore(gcsLocation(uri), { clock }),
      });
      expect(stderr).toMatch(/^note: report history skipped \(.*\); timeouts stand in for run times$/m);
      expect(ok.requests.length).toBe(before + 1);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^good\s+success\s+200/m);
      expect(stdout).toMatch(/report NOT stored \(.*\); it was logged in full/);
    });
  }

  it('a tick with nothing due: nothing dispatched, no report written, exit 0', async () => {
    const { file, base } = config();
    const before = ok.requests.length + hanging.requests.length;
    const { code, stdout } = await cli(['run', '--config', file, '--at', '2026-11-22T15:00:00Z'], {
      clock: new FakeClock('2026-11-22T15:00:02Z'),
    });
    expect(code).toBe(0);
    expect(stdout).toBe('no collector is due at this tick: nothing dispatched, no report written\n');
    expect(ok.requests.length + hanging.requests.length).toBe(before);
    const reports = await openStore(`${base}/reports`);
    for await (const info of reports.list('')) throw new Error(`unexpected report ${info.key}`);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    'cancelled by %s: the running collector is reported cancelled, exit %i',
    async (signal, exit) => {
      const { file } = config();
      const stop = new AbortController();
      const before = hanging.requests.length;
      const seen = { stderr: '' };
      const run = cli(
        ['run', '--config', file, '--collectors', 'good,slow'],
        { clock: new FakeClock('2026-11-22T14:00:00Z'), shutdown: stop.signal },
        seen,
      );
      await hanging.waitForRequests(before + 1);
      await until(() => seen.stderr.includes('✓ good: success'), 'good done');
      stop.abort(new CancelledError(signal));
      const { code, stdout } = await run;
      expect(code).toBe(exit);
      expect(stdout).toMatch(/^good\s+success\s+200\s+1/m);
      expect(stdout).toMatch(/^slow\s+cancelled\s+-\s+1\s+.*Cancelled: SIG(INT|TERM) received/m);
      expect(stdout).toMatch(/1 succeeded, 0 failed, 0 skipped, 1 cancelled/);
      expect(stdout).toMatch(/report: .*\.json/);
    },
  );
});

/** `store` whose listings never answer (a stalled request); everything else works. */
function stalledLists(store: ObjectStore, onList: () => void): ObjectStore {
  return {
    location: store.location,
    get: (key) => store.get(key),
    put: (key, data, options) => store.put(key, data, options),
    putStream: (key, source, options) => store.putStream(key, source, options),
    delete: (key, options) => store.delete(key, options),
    scope: (prefix) => stalledLists(store.scope(prefix), onList),
    list: (): AsyncIterable<never> => ({
      [Symbol.asyncIterator]: () => ({
        next: () => {
          onList();
          return new Promise(() => undefined);
        },
      }),
    }),
  };
}
