import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import { parseConfig } from '../../src/config/load';
import type { TickClaimRecord } from '../../src/execution/tick-claim';
import { createFunctionHandler } from '../../src/http/function-handler';
import { createServices, type Services } from '../../src/create-services';
import { openStore } from '../../src/store/open';
import { readJson, type ObjectStore } from '../../src/store/types';
import { post, startFunction } from '../support/children';
import { FakeClock } from '../support/fake-clock';
import { json, startServer, type TestServer } from '../support/http';
import { captureLogger } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { until } from '../support/wait';

// An instance killed with SIGKILL in the middle of an execution (the function in a child process,
// sharing the store), then Cloud Scheduler's retries of the same tick on other instances: refused while
// the dead execution's claim may still be alive, run once it is dead, and never twice at once.

const TICK = '2026-11-22T14:00:00Z';
const JOB = 'projects/p/locations/europe-west1/jobs/master';
const SCHEDULER_HEADERS = {
  'X-CloudScheduler': 'true',
  'X-CloudScheduler-ScheduleTime': TICK,
  'X-CloudScheduler-JobName': JOB,
};

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

describe.each(STORE_KINDS)('a killed instance on the %s store', (kind) => {
  const storage = storeFixture(kind);
  let collector: TestServer;
  /** Requests in progress at the collector, and the most seen at once. */
  const load = { now: 0, max: 0 };
  beforeAll(async () => {
    await storage.setup();
    // The first call hangs (the killed instance's); later ones answer.
    collector = await startServer((_req, res, _body, index) => {
      load.now++;
      load.max = Math.max(load.max, load.now);
      res.on('close', () => load.now--);
      if (index > 0) json(res, 200, { ok: true });
    });
  });
  afterAll(async () => {
    await collector.close();
    await storage.teardown();
  });

  it('the retry is refused while the claim may be alive, runs the tick once it is dead, and only once', async () => {
    const base = storage.uri('killed');
    const yaml = `timezone: UTC
storage: { reports: ${base}/reports, raw: ${base}/raw, state: ${base}/state }
scheduler:
  auth: { type: none }
  deadline_seconds: 120
  report_budget_seconds: 30
  retry: { attempts: 1 }
collectors:
  remote: { url: "${collector.url}/run", schedule: "0 14 * * *", timeout_seconds: 100 }
`;
    const file = path.join(dirs.make('killed'), 'config.yaml');
    writeFileSync(file, yaml);
    const state = await openStore(`${base}/state`);

    // Instance 1 takes the tick and calls the collector, then is killed.
    const first = await startFunction({ SCHEDULER_CONFIG: file });
    const lost = post(`${first.url}/`, SCHEDULER_HEADERS).catch((error: Error) => error);
    await collector.waitForRequests(1);
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // Cloud Scheduler sees the connection drop, and retries.
    expect(await lost).toMatchObject({ code: 'ECONNRESET' });
    // The collector sees the killed instance's call go away (its run stops there).
    await until(() => load.now === 0, "the killed instance's call dropped");
    const dead = (await onlyClaim(state))!;
    expect(dead.status).toBe('claimed');

    // Other instances, on a clock that starts when the killed one claimed the tick.
    const clock = new FakeClock(Date.parse(dead.claimedAt) + 2_000);
    const instances = await Promise.all([instance(yaml, clock), instance(yaml, clock)]);
    try {
      const early = await request(instances[0]!.server).post('/').set(SCHEDULER_HEADERS);
      expect(early.status).toBe(409);
      expect(early.body.error).toMatchObject({ code: 'DUPLICATE_TRIGGER', execution_id: dead.executionId });
      expect(collector.requests).toHaveLength(1);

      // claimed at + claim budget (5 s) + deadline (120 s) + report budget (30 s)
      expect(Date.parse(dead.deadAfter) - Date.parse(dead.claimedAt)).toBe(155_000);
      clock.advance(Date.parse(dead.deadAfter) + 1 - clock.now());
      const retries = await Promise.all(
        instances.map((i) => request(i.server).post('/').set(SCHEDULER_HEADERS)),
      );
      expect(retries.map((r) => r.status).sort()).toEqual([200, 409]);
      const ran = retries.find((r) => r.status === 200)!;
      expect(ran.body.collectors.remote).toMatchObject({ status: 'success' });
      expect(collector.requests).toHaveLength(2);
      expect(load.max).toBe(1);

      expect(await onlyClaim(state)).toMatchObject({
        status: 'done',
        executionId: ran.body.execution_id,
        takenOverFrom: dead.executionId,
      });
      // And any later delivery of the tick is refused.
      const late = await request(instances[1]!.server).post('/').set(SCHEDULER_HEADERS);
      expect(late.status).toBe(409);
      expect(collector.requests).toHaveLength(2);
    } finally {
      await Promise.all(instances.map((i) => i.services.close()));
    }
  });
});

let registered = 0;

/** Another instance of the function (same store), on `clock`. */
async function instance(
  yaml: string,
  clock: FakeClock,
): Promise<{ services: Services; server: ReturnType<typeof getTestServer> }> {
  const services = await createServices(parseConfig(yaml, 'config.yaml', {}), {
    clock,
    logger: captureLogger().logger,
    env: {},
  });
  const name = `instance-${++registered}`;
  ff.http(
    name,
    createFunctionHandler(async () => services, captureLogger().logger),
  );
  return { services, server: getTestServer(name) };
}

async function onlyClaim(state: ObjectStore): Promise<TickClaimRecord | null> {
  const keys: string[] = [];
  await until(async () => {
    keys.length = 0;
    for await (const info of state.list('ticks/')) keys.push(info.key);
    return keys.length > 0;
  }, 'a claim');
  expect(keys).toHaveLength(1);
  return (await readJson<TickClaimRecord>(state, keys[0]!))?.value ?? null;
}
