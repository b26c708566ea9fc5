import { writeFileSync, mkdirSync } from 'node:fs';
import { execute } from '../../src/execution/execute';
import { makeTrigger, type Trigger } from '../../src/execution/trigger';
import {
  CLAIM_BUDGET_MS,
  DuplicateTriggerError,
  tickClaimKey,
  type TickClaimRecord,
} from '../../src/execution/tick-claim';
import { createApp } from '../../src/http/app';
import { reportKey } from '../../src/report/report-store';
import type { Services } from '../../src/services';
import { openGcsStore } from '../../src/store/gcs-store';
import { openStore } from '../../src/store/open';
import { putJson, readJson, type ObjectStore } from '../../src/store/types';
import { FakeClock } from '../support/fake-clock';
import { json, startServer, type TestServer } from '../support/http';
import { rejection } from '../support/rejection';
import { testServices } from '../support/services';
import { gcsLocation, STORE_KINDS, storeFixture } from '../support/stores';
import { until } from '../support/wait';

// A tick's claim, from claimed to done: refused while it runs and after, given back when nothing was
// dispatched, taken over once dead (by one delivery of two), refused 503 when the state store cannot
// take it, and no obstacle to a manual trigger during a store outage.

const TICK = '2026-11-22T14:00:00Z';
const JOB = 'projects/p/locations/europe-west1/jobs/master';

/** Cloud Scheduler's delivery of the 14:00 tick. */
const tick = (asked: Partial<Trigger> = {}): Trigger =>
  makeTrigger('cloud-scheduler', { tickMs: Date.parse(TICK), jobName: JOB, ...asked });

/** A collector that answers once `open()` is called (every request before and after). */
async function gatedCollector(): Promise<TestServer & { open(): void }> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const server = await startServer(async (_req, res) => {
    await gate;
    json(res, 200, { ok: true });
  });
  return Object.assign(server, { open });
}

const yamlFor = (url: string, reportBudgetSeconds = 10) => `
timezone: UTC
scheduler:
  auth: { type: none }
  deadline_seconds: 60
  report_budget_seconds: ${reportBudgetSeconds}
collectors:
  due: { url: "${url}/run", schedule: "0 14 * * *" }
`;

/** The one claim object under `ticks/`. */
async function claimOf(state: ObjectStore): Promise<{ key: string; value: TickClaimRecord } | null> {
  for await (const info of state.list('ticks/')) {
    const found = await readJson<TickClaimRecord>(state, info.key);
    return found ? { key: info.key, value: found.value } : null;
  }
  return null;
}

describe.each(STORE_KINDS)('tick claims on the %s store', (kind) => {
  const storage = storeFixture(kind);
  const servers: TestServer[] = [];
  const open: Services[] = [];
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  afterEach(async () => {
    if (storage.gcs) {
      storage.gcs.onRequest = null;
      storage.gcs.clearFaults();
    }
    await Promise.all(open.splice(0).map((s) => s.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  let n = 0;

  async function setup(options: Parameters<typeof testServices>[2] = {}) {
    const collector = await gatedCollector();
    servers.push(collector);
    const dir = storage.uri(`case-${++n}`);
    const clock = new FakeClock('2026-11-22T14:00:03Z');
    const services = await testServices(yamlFor(collector.url), dir, { clock, ...options });
    open.push(services);
    return { collector, dir, clock, services, state: await openStore(`${dir}/state`) };
  }

  it('claims a tick, marks it done, and refuses other deliveries (409) while it runs and after', async () => {
    const { collector, services, state } = await setup();
    const first = execute(services, tick());
    await collector.waitForRequests(1);
    const claim = await claimOf(state);
    expect(claim!.value).toMatchObject({ status: 'claimed', claimedAt: '2026-11-22T14:00:03.000Z' });
    // claimed at + claim budget + deadline + report budget
    expect(claim!.value.deadAfter).toBe('2026-11-22T14:01:18.000Z');

    const whileRunning = await rejection(execute(services, tick()));
    expect(whileRunning).toBeInstanceOf(DuplicateTriggerError);
    expect((whileRunning as DuplicateTriggerError).message).toMatch(/is running it; nothing was dispatched/);

    collector.open();
    const { report } = await first;
    expect((await claimOf(state))!.value).toMatchObject({
      status: 'done',
      executionId: report.execution_id,
    });
    const after = await rejection(execute(services, tick()));
    expect((after as DuplicateTriggerError).message).toMatch(
      new RegExp(`execution ${report.execution_id} ran it`),
    );
    expect(collector.requests).toHaveLength(1);
  });

  it('gives the tick back when its execution dispatched nothing, so the retry runs it', async () => {
    const { collector, services, state } = await setup();
    collector.open();
    // Tasks mode without a tasks section: every collector fails before anything is sent.
    const failed = await execute(services, tick({ mode: 'tasks' }));
    expect(failed.report.collectors['due']).toMatchObject({ status: 'failed', attempts: 0 });
    expect(failed.report.warnings).toContain(
      'nothing was dispatched: the tick was given back, so a retry runs it',
    );
    expect(failed.httpStatus).toBe(500);
    expect(await claimOf(state)).toBeNull();

    const retry = await execute(services, tick());
    expect(retry.report.collectors['due']!.status).toBe('success');
    expect(collector.requests).toHaveLength(1);
  });

  it('takes over a dead claim (past its deadline and report budget, no report), not a live one', async () => {
    const { collector, services, state, clock } = await setup();
    collector.open();
    // The claim of an execution whose instance was killed at 14:00:01.
    const killed = await claimAsIfKilled(state, '20261122T140001Z-deadbeef');

    const early = await rejection(execute(services, tick()));
    expect((early as DuplicateTriggerError).message).toMatch(
      /execution 20261122T140001Z-deadbeef is running it/,
    );
    expect(collector.requests).toHaveLength(0);

    clock.advance(Date.parse(killed.deadAfter) - clock.now() + 1);
    const { report, httpStatus } = await execute(services, tick());
    expect(httpStatus).toBe(200);
    expect(collector.requests).toHaveLength(1);
    expect((await claimOf(state))!.value).toMatchObject({
      status: 'done',
      executionId: report.execution_id,
      takenOverFrom: '20261122T140001Z-deadbeef',
    });
    expect(
      services.logs.some((e) => /claim taken over from execution 20261122T140001Z-deadbeef/.test(e.message)),
    ).toBe(true);
  });

  it('does not take over a claim past its time whose execution wrote its report', async () => {
    const { collector, services, state, clock, dir } = await setup();
    collector.open();
    const finished = await claimAsIfKilled(state, '20261122T140001Z-0badf00d');
    await putJson(await openStore(`${dir}/reports`), reportKey('20261122T140001Z-0badf00d'), { ok: true });
    clock.advance(Date.parse(finished.deadAfter) - clock.now() + 1);
    const refused = await rejection(execute(services, tick()));
    expect(refused).toBeInstanceOf(DuplicateTriggerError);
    expect(collector.requests).toHaveLength(0);
  });

  it('of two deliveries racing for a dead claim, exactly one runs the tick', async () => {
    const { collector, services, state, clock, dir } = await setup();
    collector.open();
    const other = await testServices(yamlFor(collector.url), dir, { clock });
    open.push(other);
    const dead = await claimAsIfKilled(state, '20261122T140001Z-deadbeef');
    clock.advance(Date.parse(dead.deadAfter) - clock.now() + 1);

    const results = await Promise.allSettled([execute(services, tick()), execute(other, tick())]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(DuplicateTriggerError);
    expect(collector.requests).toHaveLength(1);
  });

  it('answers 503 within the claim budget when the state store cannot take the claim, dispatching nothing', async () => {
    const { collector, services, state, clock, dir } = await setup();
    collector.open();
    const app = createApp(async () => services);
    const deliver = () =>
      app({
        method: 'POST',
        path: '/',
        headers: { 'x-cloudscheduler-scheduletime': TICK, 'x-cloudscheduler-jobname': JOB },
        body: undefined,
      });

    let release: () => void = () => undefined;
    if (storage.gcs) {
      // The store hangs on writes (a stalled upload): the claim is the execution's first write.
      const held = new Promise<void>((resolve) => (release = resolve));
      const mark = storage.gcs.requests.length;
      storage.gcs.onRequest = (r) => (r.op.startsWith('upload.') ? held : undefined);
      const answer = deliver();
      await until(
        () => storage.gcs!.requests.slice(mark).some((r) => r.op.startsWith('upload.')),
        'claim write',
      );
      clock.advance(CLAIM_BUDGET_MS);
      const res = await answer;
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        error: {
          code: 'STORE_UNAVAILABLE',
          message: expect.stringMatching(
            /^the claim of tick 2026-11-22T14:00:00\.000Z could not be recorded in the state store \(no answer within 5 s\); nothing was dispatched/,
          ),
        },
      });
    } else {
      // The directory the claim goes to cannot be created.
      mkdirSync(`${dir}/state`, { recursive: true });
      writeFileSync(`${dir}/state/ticks`, 'not a directory');
      const res = await deliver();
      expect(res.status).toBe(503);
      expect((res.body as { error: { code: string } }).error.code).toBe('STORE_UNAVAILABLE');
    }
    expect(collector.requests).toHaveLength(0);

    if (storage.gcs) {
      // The write lands after the 503: the claim is given back, so the retry is not refused.
      storage.gcs.onRequest = null;
      release();
      await until(async () => (await claimOf(state)) === null, 'late claim given back');
      const retry = await deliver();
      expect(retry.status).toBe(200);
      expect(collector.requests).toHaveLength(1);
    }
  });

  it('a manual trigger during a store outage still dispatches and answers the report', async () => {
    const { collector, dir } = await setup();
    collector.open();
    const clock = new FakeClock('2026-11-22T14:10:00Z');
    let services: Services & { logs: { severity: string; report?: unknown }[] };
    if (storage.gcs) {
      storage.gcs.failNext(10_000, { status: 503 });
      // The store's retries wait on the same fake clock, so its 30 s budget passes at once (within
      // the 60 s report budget: the report is refused by the store, not cut off by the budget).
      services = await testServices(yamlFor(collector.url, 60), dir, {
        clock,
        openStore: (uri) => openGcsStore(gcsLocation(uri), { clock }),
      });
    } else {
      mkdirSync(dir, { recursive: true });
      for (const name of ['reports', 'state']) writeFileSync(`${dir}/${name}`, 'not a directory');
      services = await testServices(yamlFor(collector.url), dir, { clock });
    }
    open.push(services);
    const { report, saved, httpStatus } = await execute(services, makeTrigger('http'));
    expect(collector.requests).toHaveLength(1);
    expect(httpStatus).toBe(200);
    expect(report.collectors['due']!.status).toBe('success');
    expect(saved.stored).toBe(false);
    expect(services.logs.filter((e) => e.severity === 'ERROR' && e.report)).toHaveLength(1);
  });
});

/** Writes the claim an execution started at 14:00:01 left when its instance was killed. */
async function claimAsIfKilled(state: ObjectStore, executionId: string): Promise<TickClaimRecord> {
  const { key, objectKey } = tickClaimKey(new Date(TICK).toISOString(), JOB, null);
  const record: TickClaimRecord = {
    key,
    executionId,
    status: 'claimed',
    claimedAt: '2026-11-22T14:00:01.000Z',
    // claimed at + claim budget + deadline (60 s) + report budget (10 s)
    deadAfter: new Date(Date.parse('2026-11-22T14:00:01Z') + CLAIM_BUDGET_MS + 70_000).toISOString(),
  };
  await putJson(state, objectKey, record);
  return record;
}
