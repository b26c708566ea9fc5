/**
 * One scheduler suite, run in both dispatch modes and on both stores. HTTP mode calls the collector
 * routes itself and waits; tasks mode creates Cloud Tasks (real client, loopback server) which deliver
 * the same payloads to the same routes later. Once the runs end, the merged status must read the same,
 * collector by collector.
 */
import { main, type CliIO } from '../../src/cli/main';
import { DISPATCH_MODES, type DispatchMode } from '../../src/config/types';
import type { CollectorReport, ExecutionReport } from '../../src/report/report';
import { PermanentError, SkipRun } from '../../src/runtime/errors';
import { CollectorRegistry } from '../../src/runtime/registry';
import { readRunRecords } from '../../src/runtime/run-records';
import { closeTasksClients } from '../../src/tasks/client';
import { FakeClock } from '../support/fake-clock';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { testCollector, writesOne } from '../support/test-collectors';
import { START, startRig, type Rig } from './rig';

const dirs = tempDirs();
afterAll(async () => {
  await closeTasksClients();
  dirs.cleanup();
});

/** The collectors every mode must settle the same way, and how often two group members overlapped. */
function collectors() {
  let flakyCalls = 0;
  const group = { inFlight: 0, peak: 0 };
  const member = (name: string) =>
    testCollector(name, async (ctx) => {
      group.peak = Math.max(group.peak, ++group.inFlight);
      // Yield, so that an overlapping member would start meanwhile.
      await new Promise((resolve) => setImmediate(resolve));
      group.inFlight--;
      await ctx.output.write('data.json', '{}', { contentType: 'application/json', records: 1 });
      return { records: 1 };
    });
  const registry = new CollectorRegistry([
    writesOne('ok', 2),
    testCollector('permanent', async () => {
      throw new PermanentError('options.departements.0: is not a département code');
    }),
    testCollector('flaky', async () => {
      if (flakyCalls++ === 0) throw new Error('upstream reset the connection');
      return { records: 3 };
    }),
    testCollector('down', async () => {
      throw new Error('upstream is down');
    }),
    testCollector('skipper', async () => {
      throw new SkipRun('missing_credentials', 'SIRENE_API_KEY is not set');
    }),
    member('xmp'),
    member('xmp-daily'),
  ]);
  return { registry, group };
}

const COLLECTORS = {
  ok: '{ schedule: "0 14 * * *" }',
  permanent: '{ schedule: "0 2 * * *" }',
  flaky: '{ schedule: "0 2 * * *" }',
  down: '{ schedule: "0 2 * * *" }',
  skipper: '{ schedule: "0 2 * * *" }',
  xmp: '{ schedule: "0 2 * * *", group: xmp-account }',
  'xmp-daily': '{ schedule: "0 2 * * *", group: xmp-account }',
};

/** What must not depend on the mode. */
function outcome(c: CollectorReport) {
  return {
    status: c.status,
    attempts: c.attempts,
    http_status: c.http_status,
    ...(c.reason ? { reason: c.reason } : {}),
  };
}

const FINAL = {
  ok: { status: 'success', attempts: 1, http_status: 200 },
  permanent: { status: 'failed', attempts: 1, http_status: 200 },
  flaky: { status: 'success', attempts: 2, http_status: 200 },
  down: { status: 'failed', attempts: 3, http_status: 503 },
  skipper: { status: 'skipped', attempts: 1, http_status: 200, reason: 'missing_credentials' },
  xmp: { status: 'success', attempts: 1, http_status: 200 },
  'xmp-daily': { status: 'success', attempts: 1, http_status: 200 },
};

const SUMMARY = { total: 7, succeeded: 4, failed: 2, skipped: 1, scheduled: 0, running: 0 };

describe.each(STORE_KINDS)('on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());

  describe.each(DISPATCH_MODES)('in %s mode', (mode: DispatchMode) => {
    let rig: Rig;
    let group: { peak: number };
    beforeEach(async () => {
      const made = collectors();
      group = made.group;
      rig = await startRig({
        mode,
        storage,
        dir: dirs.make(`modes-${mode}`),
        registry: made.registry,
        collectors: COLLECTORS,
      });
    });
    afterEach(() => rig.close());

    it('runs every enabled collector, and once the runs end the merged status settles each one the same way', async () => {
      const triggered = await rig.trigger();
      const id = triggered.body.execution_id;
      if (mode === 'http') {
        // HTTP mode waited for every run.
        expect(triggered.status).toBe(207);
        expect(triggered.body.summary).toEqual(SUMMARY);
      } else {
        // Tasks mode only scheduled them: all went to Cloud Tasks, so the trigger succeeded.
        expect(triggered.status).toBe(200);
        expect(triggered.body.summary).toMatchObject({ total: 7, scheduled: 7 });
        expect(triggered.body.collectors['ok']).toMatchObject({ status: 'scheduled', queue: 'collectors' });
        expect(triggered.body.collectors['xmp']).toMatchObject({ queue: 'collectors-xmp-account' });
      }
      await rig.settled();

      const status = await rig.get('/status');
      expect(status.status).toBe(200);
      expect(status.body.execution_id).toBe(id);
      expect(status.body.mode).toBe(mode);
      expect(mapValues(status.body.collectors, outcome)).toEqual(FINAL);
      expect(status.body.summary).toEqual(SUMMARY);
      expect(status.body.collectors['ok']).toMatchObject({
        result: { records: 2, summary: { wrote: 1 } },
        manifest: { totals: { objects: 1, records: 2 } },
      });
      expect(status.body.collectors['permanent']).toMatchObject({
        error: 'options.departements.0: is not a département code',
        error_type: 'COLLECTOR_FAILED',
      });
      expect(status.body.collectors['down']!.error).toContain('upstream is down');
      // The original design's keys are all there, in both modes.
      for (const c of Object.values(status.body.collectors)) {
        expect(Object.keys(c)).toEqual(
          expect.arrayContaining([
            'status',
            'http_status',
            'error',
            'error_type',
            'duration_seconds',
            'result',
          ]),
        );
      }
      expect((await rig.get(`/reports/${id}`)).body.collectors).toEqual(status.body.collectors);

      // Members of one credential group never ran at the same time.
      expect(group.peak).toBe(1);
      if (rig.tasks) expect(rig.tasks.maxConcurrency('collectors-xmp-account')).toBe(1);

      // Every run left its record, whoever started it.
      const records = await readRunRecords(rig.services.stores.state, id);
      expect([...records.keys()].sort()).toEqual(Object.keys(FINAL).sort());
      expect(records.get('flaky')).toMatchObject({ status: 'success', attempt: 2 });
    });

    it('`scheduler status` shows the same merged outcome', async () => {
      const { body } = await rig.trigger({ collectors: ['ok', 'permanent', 'flaky'] });
      await rig.settled();
      const cli = await runCli(['status', '--json', '--config', rig.configFile], rig);
      expect(cli.code).toBe(0);
      const report = JSON.parse(cli.stdout) as ExecutionReport;
      expect(report.execution_id).toBe(body.execution_id);
      expect(mapValues(report.collectors, outcome)).toEqual({
        ok: FINAL.ok,
        permanent: FINAL.permanent,
        flaky: FINAL.flaky,
      });
      const table = await runCli(['status', '--config', rig.configFile], rig);
      expect(table.stdout).toMatch(/^flaky\s+success\s+200\s+2\s/m);
      expect(table.stdout).toMatch(/3 collectors, 2 succeeded, 1 failed, 0 skipped/);
    });

    it('a tick runs only the collectors due then, and a repeated tick is refused before anything is dispatched', async () => {
      const tick = { 'x-cloudscheduler-scheduletime': '2026-11-22T13:00:00Z', 'x-cloudscheduler': 'true' };
      const first = await rig.trigger(undefined, tick);
      expect(first.status).toBe(200);
      expect(Object.keys(first.body.collectors)).toEqual(['ok']);
      await rig.settled();
      expect(outcome((await rig.get('/status')).body.collectors['ok']!)).toEqual(FINAL.ok);

      const again = await rig.trigger(undefined, tick);
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({
        error: { code: 'DUPLICATE_TRIGGER', execution_id: first.body.execution_id },
      });
      if (rig.tasks) expect(rig.tasks.tasks).toHaveLength(1);
    });
  });
});

async function runCli(args: string[], rig: Rig): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: { ...process.env },
    cwd: process.cwd(),
  };
  const code = await main(args, io, { registry: rig.services.registry, clock: new FakeClock(START) });
  return { code, stdout, stderr };
}

function mapValues<T, U>(record: Record<string, T>, fn: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fn(v)]));
}
