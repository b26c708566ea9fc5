import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { main, type CliIO } from '../../src/cli/main';
import { createApp } from '../../src/http/app';
import { close, createNodeServer, listen } from '../../src/http/node-server';
import type { ExecutionReport } from '../../src/report/report';
import { CollectorRegistry } from '../../src/runtime/registry';
import { PermanentError } from '../../src/runtime/errors';
import { PAUSED_BY_FAILURES } from '../../src/schedule/failure-pause';
import { resumeTarget } from '../../src/schedule/pause-commands';
import { closeTasksClients } from '../../src/tasks/client';
import { FakeClock } from '../support/fake-clock';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { testCollector } from '../support/test-collectors';
import { startRig, type Rig } from '../modes/rig';
import { instance, recordingRegistry, runAt, storageYaml, tick, type SeenRun } from './support';

const dirs = tempDirs();
afterAll(async () => {
  await closeTasksClients();
  dirs.cleanup();
});

describe.each(STORE_KINDS)('pause and resume on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let n = 0;

  const collectors = `collectors:
  daily: { schedule: "5 1 * * *" }
  xmp: { schedule: "*/30 * * * *", group: acct }
  xmp-daily: { schedule: "5 1 * * *", group: acct }
`;

  it('CLI: a paused collector is skipped (reason paused, with the note); plan and status show it; resumed, it runs', async () => {
    const file = path.join(dirs.make('pause-cli'), 'config.yaml');
    writeFileSync(file, `${storageYaml(storage, `cli-${++n}`)}timezone: Europe/Paris\n${collectors}`);
    const seen: SeenRun[] = [];
    const registry = recordingRegistry(seen, ['daily', 'xmp', 'xmp-daily']);
    const clock = new FakeClock('2026-11-22T00:00:00Z');
    const cli = async (...args: string[]) => {
      let stdout = '';
      let stderr = '';
      const io: CliIO = {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        env: { USER: 'alice' },
        cwd: process.cwd(),
      };
      const code = await main([...args, '--config', file], io, { clock, registry });
      return { code, stdout, stderr };
    };

    const paused = await cli(
      'pause',
      'daily',
      '--reason',
      'DVF mirror down, ticket 42',
      '--until',
      '2026-11-23T00:00:00Z',
    );
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(
      /^daily: paused by alice@\S+ \(cli\) at 2026-11-22T00:00:00\.000Z until 2026-11-23T00:00:00\.000Z: DVF mirror down, ticket 42$/m,
    );
    const run = await cli('run', '--at', '2026-11-22T00:05:00Z', '--json');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as ExecutionReport;
    expect(report.collectors['daily']).toMatchObject({
      status: 'skipped',
      reason: 'paused',
      error: expect.stringMatching(
        /^paused by alice@\S+ \(cli\) at .* until 2026-11-23T00:00:00\.000Z: DVF mirror down, ticket 42$/,
      ),
      pause: { target: 'daily', reason: 'DVF mirror down, ticket 42', until: '2026-11-23T00:00:00.000Z' },
    });
    expect(report.collectors['xmp-daily']).toMatchObject({ status: 'success' });
    expect(seen.map((s) => s.collector)).toEqual(['xmp-daily']);

    const status = await cli('status');
    expect(status.stdout).toMatch(/^daily\s+skipped\s+-\s+0\s+-\s+paused by alice/m);
    expect(status.stdout).toMatch(
      /^Paused:\n {2}daily\s+paused by alice@\S+ \(cli\) at .*: DVF mirror down, ticket 42$/m,
    );
    const statusJson = JSON.parse((await cli('status', '--json')).stdout) as { paused: unknown[] };
    expect(statusJson.paused).toEqual([
      expect.objectContaining({ target: 'daily', by: expect.stringMatching(/^alice@/) }),
    ]);
    const plan = await cli('plan', '--hours', '2');
    expect(plan.stdout).toMatch(/^Paused:\n {2}daily\s+paused by alice/m);
    const planJson = JSON.parse((await cli('plan', '--json')).stdout) as { paused: { target: string }[] };
    expect(planJson.paused.map((p) => p.target)).toEqual(['daily']);

    const resumed = await cli('resume', 'daily');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/^daily: resumed \(was paused by alice/m);
    expect((await cli('resume', 'daily')).stderr).toMatch(/^daily is not paused$/m);
    expect((await cli('resume', 'daily')).code).toBe(1);
    clock.advance(86_400_000);
    const next = JSON.parse(
      (await cli('run', '--at', '2026-11-23T00:05:00Z', '--json')).stdout,
    ) as ExecutionReport;
    expect(next.collectors['daily']).toMatchObject({ status: 'success' });

    // Bad input names what is wrong.
    const unknown = await cli('pause', 'daly', '--reason', 'x');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown collector "daly" \(did you mean "daily"\?\)/);
    const past = await cli('pause', 'daily', '--reason', 'x', '--until', '2026-11-01T00:00:00Z');
    expect(past.stderr).toMatch(/until: 2026-11-01T00:00:00\.000Z is not in the future/);
    expect((await cli('pause', 'daily')).stderr).toMatch(/required option '--reason <text>' not specified/);
  });

  it('a group pause holds back every member until its end; a member is resumed with its group', async () => {
    const yaml = `${storageYaml(storage, `group-${++n}`)}timezone: Europe/Paris\n${collectors}`;
    const seen: SeenRun[] = [];
    const s = await instance(yaml, {
      registry: recordingRegistry(seen, ['daily', 'xmp', 'xmp-daily']),
      at: '2026-11-22T00:00:00Z',
    });
    try {
      const file = path.join(dirs.make('pause-group'), 'config.yaml');
      writeFileSync(file, yaml);
      const io: CliIO = { stdout: () => undefined, stderr: () => undefined, env: {}, cwd: process.cwd() };
      const cli = (...args: string[]) =>
        main([...args, '--config', file], io, {
          clock: s.clock,
          registry: recordingRegistry([], ['daily', 'xmp', 'xmp-daily']),
        });
      expect(
        await cli(
          'pause',
          'group:acct',
          '--reason',
          'XMP outage',
          '--by',
          'ops',
          '--until',
          '2026-11-22T01:00:00Z',
        ),
      ).toBe(0);
      const during = await runAt(s, '2026-11-22T00:05:00Z', tick('2026-11-22T00:05:00Z'));
      expect(during.collectors['xmp-daily']).toMatchObject({
        status: 'skipped',
        reason: 'paused',
        error:
          'paused (group:acct) by ops at 2026-11-22T00:00:00.000Z until 2026-11-22T01:00:00.000Z: XMP outage',
      });
      expect(during.collectors['daily']).toMatchObject({ status: 'success' });
      let stderr = '';
      const code = await main(
        ['resume', 'xmp', '--config', file],
        { ...io, stderr: (t) => (stderr += t) },
        { clock: s.clock, registry: recordingRegistry([], ['daily', 'xmp', 'xmp-daily']) },
      );
      expect(code).toBe(2);
      expect(stderr).toMatch(
        /xmp is paused \(group:acct\) by ops .*; resume the group \(resume group:acct\) to resume it/,
      );
      // The pause ends by itself at 01:00 UTC: the 01:30 tick runs xmp, and does not make up the
      // runs it skipped while paused (a backfill does that).
      const after = await runAt(s, '2026-11-22T01:30:00Z', tick('2026-11-22T01:30:00Z'));
      expect(Object.keys(after.collectors)).toEqual(['xmp']);
      expect(after.collectors['xmp']).toMatchObject({ status: 'success' });
      expect(seen.map((r) => `${r.collector} ${r.scheduledTime}`)).toEqual([
        'daily 2026-11-22T00:05:00.000Z',
        'xmp 2026-11-22T01:30:00.000Z',
      ]);
    } finally {
      await s.close();
    }
  });

  it('routes: POST /pauses and DELETE /pauses/NAME need a caller, record who; a tick skips it meanwhile', async () => {
    const token = 'pause-route-token-3e9a1c';
    const yaml = `${storageYaml(storage, `route-${++n}`)}timezone: Europe/Paris
scheduler:
  incoming_auth: { type: bearer, token_env: PAUSE_TEST_TOKEN }
${collectors}`;
    const seen: SeenRun[] = [];
    const s = await instance(yaml, {
      registry: recordingRegistry(seen, ['daily', 'xmp', 'xmp-daily']),
      at: '2026-11-22T00:00:00Z',
      env: { PAUSE_TEST_TOKEN: token },
    });
    const server = createNodeServer(createApp(async () => s));
    const url = await listen(server);
    const call = async (method: string, pathname: string, body?: unknown, auth = true) => {
      const response = await fetch(`${url}${pathname}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(auth ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    try {
      // No caller, no pause: 401 and nothing stored.
      expect((await call('POST', '/pauses', { target: 'daily', reason: 'x' }, false)).status).toBe(401);
      expect((await call('GET', '/pauses', undefined, false)).status).toBe(401);
      expect((await call('DELETE', '/pauses/daily', undefined, false)).status).toBe(401);
      expect((await call('GET', '/pauses')).body).toEqual({ pauses: [] });

      const created = await call('POST', '/pauses', { target: 'daily', reason: 'upstream migration' });
      expect(created.status).toBe(201);
      expect(created.body['pause']).toEqual({
        target: 'daily',
        reason: 'upstream migration',
        by: 'bearer',
        at: '2026-11-22T00:00:00.000Z',
        until: null,
      });
      const bad = await call('POST', '/pauses', { target: 'daily', reason: '', options: {} });
      expect(bad.status).toBe(400);
      expect(JSON.stringify(bad.body)).toMatch(/options: unknown field/);
      expect(JSON.stringify(bad.body)).toMatch(/reason: must say why/);

      const run = await call('POST', '/run', { at: '2026-11-22T00:05:00Z' });
      expect((run.body['collectors'] as Record<string, unknown>)['daily']).toMatchObject({
        status: 'skipped',
        reason: 'paused',
      });
      expect(seen.map((r) => r.collector)).toEqual(['xmp-daily']);

      const resumed = await call('DELETE', '/pauses/daily');
      expect(resumed.status).toBe(200);
      expect(resumed.body['resumed']).toMatchObject({ target: 'daily', reason: 'upstream migration' });
      expect((await call('DELETE', '/pauses/daily')).status).toBe(404);
      expect((await call('POST', `/pauses`, { target: 'group:acct', reason: 'r' })).status).toBe(201);
      expect((await call('DELETE', `/pauses/${encodeURIComponent('group:acct')}`)).status).toBe(200);
      expect((await call('GET', '/pauses')).body).toEqual({ pauses: [] });
    } finally {
      await close(server);
      await s.close();
    }
  });

  it('pause_after_failures: N failed runs in a row pause the collector with a note; resumed, it counts again', async () => {
    const yaml = `${storageYaml(storage, `failures-${++n}`)}timezone: Europe/Paris
collectors:
  flaky: { schedule: "0 * * * *", pause_after_failures: 2 }
`;
    let runs = 0;
    const s = await instance(yaml, {
      registry: new CollectorRegistry([
        testCollector('flaky', async () => {
          runs++;
          throw new PermanentError(`upstream answered 500 (run ${runs})`);
        }),
      ]),
      at: '2026-11-22T10:00:00Z',
    });
    try {
      const at = (h: number) => `2026-11-22T${String(h).padStart(2, '0')}:00:00Z`;
      expect((await runAt(s, at(10), tick(at(10)))).collectors['flaky']).toMatchObject({ status: 'failed' });
      expect((await runAt(s, at(11), tick(at(11)))).collectors['flaky']).toMatchObject({ status: 'failed' });
      const third = await runAt(s, at(12), tick(at(12)));
      expect(third.collectors['flaky']).toMatchObject({
        status: 'skipped',
        reason: 'paused',
        pause: {
          target: 'flaky',
          by: PAUSED_BY_FAILURES,
          reason:
            '2 failed runs in a row (pause_after_failures: 2); last error: upstream answered 500 (run 2)',
        },
      });
      expect(runs).toBe(2);
      expect(await resumeTarget(s, 'flaky')).toMatchObject({ by: PAUSED_BY_FAILURES });
      // One more failure after the resume is the first of a new count: not paused.
      expect((await runAt(s, at(13), tick(at(13)))).collectors['flaky']).toMatchObject({ status: 'failed' });
      expect((await runAt(s, at(14), tick(at(14)))).collectors['flaky']).toMatchObject({ status: 'failed' });
      expect((await runAt(s, at(15), tick(at(15)))).collectors['flaky']).toMatchObject({
        status: 'skipped',
        reason: 'paused',
      });
      expect(runs).toBe(4);
    } finally {
      await s.close();
    }
  });
});

describe.each(STORE_KINDS)('pause in tasks mode on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let rig: Rig | null = null;
  afterEach(async () => {
    await rig?.close();
    rig = null;
  });

  it('a task already queued when its collector is paused is skipped on delivery, with the note, and not retried', async () => {
    const seen: SeenRun[] = [];
    const r = (rig = await startRig({
      mode: 'tasks',
      storage,
      dir: dirs.make(`pause-tasks-${kind}`),
      registry: recordingRegistry(seen, ['daily']),
      collectors: { daily: '{ schedule: "5 1 * * *" }' },
    }));
    r.tasks!.createQueue('collectors', { paused: true });
    const triggered = await r.trigger({ collectors: ['daily'] });
    expect(triggered.body.collectors['daily']).toMatchObject({ status: 'scheduled' });
    const paused = await fetch(`${r.url}/pauses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'daily', reason: 'hold it' }),
    });
    expect(paused.status).toBe(201);
    r.tasks!.createQueue('collectors', { paused: false });
    await r.settled();
    expect(seen).toEqual([]);
    expect(r.tasks!.attempts.map((a) => a.status)).toEqual([200]);
    const report = await r.get(`/reports/${triggered.body.execution_id}`);
    expect(report.body.collectors['daily']).toMatchObject({
      status: 'skipped',
      reason: 'paused',
      error: expect.stringMatching(/^paused by anyone \(incoming_auth none\) at .*: hold it$/),
    });
  });
});
