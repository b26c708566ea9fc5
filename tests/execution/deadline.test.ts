import { dispatchUntilDeadline, ReportBudget } from '../../src/execution/deadline';
import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import type { Dispatcher, DispatchTarget } from '../../src/dispatch/types';
import { SchedulerError } from '../../src/errors';
import { openStore } from '../../src/store/open';
import type { ObjectStore } from '../../src/store/types';
import { collectorServer } from '../support/collector-servers';
import { FakeClock } from '../support/fake-clock';
import type { TestServer } from '../support/http';
import { testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { until } from '../support/wait';

// The execution deadline end to end: a hanging collector is aborted at scheduler.deadline_seconds and
// reported Timeout while the others keep their outcomes, and the report is written within
// scheduler.report_budget_seconds after it; past that it is logged in full and answered.

const yamlFor = (ok: TestServer, hanging: TestServer) => `
timezone: UTC
scheduler:
  auth: { type: none }
  deadline_seconds: 5
  report_budget_seconds: 2
collectors:
  ok: { url: "${ok.url}/run" }
  hanging: { url: "${hanging.url}/run", timeout_seconds: 600 }
`;

describe.each(STORE_KINDS)('the execution deadline on the %s store', (kind) => {
  const storage = storeFixture(kind);
  let ok: TestServer;
  let hanging: TestServer;
  beforeAll(async () => {
    await storage.setup();
    ok = await collectorServer({ kind: 'ok', result: { records: 3 } });
    hanging = await collectorServer({ kind: 'hang' });
  });
  afterAll(async () => {
    await Promise.all([ok.close(), hanging.close()]);
    await storage.teardown();
  });
  let n = 0;

  it('aborts a hanging collector at the deadline (Timeout), keeps the others, and stores the report', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z');
    const dir = storage.uri(`case-${++n}`);
    const services = await testServices(yamlFor(ok, hanging), dir, { clock });
    try {
      const finished: string[] = [];
      const running = execute(services, makeTrigger('http'), (e) => {
        if (e.type === 'finish') finished.push(e.outcome.name);
      });
      const before = hanging.requests.length;
      await until(
        () => hanging.requests.length > before && finished.includes('ok'),
        'ok done, hanging called',
      );
      clock.advance(5_000);
      const { report, httpStatus, saved } = await running;
      expect(report.collectors['ok']).toMatchObject({ status: 'success', result: { records: 3 } });
      expect(report.collectors['hanging']).toMatchObject({
        status: 'failed',
        error_type: 'Timeout',
        error: 'execution deadline of 5 s (scheduler.deadline_seconds) reached; aborted',
      });
      expect(report.end_time).toBe('2026-11-22T14:00:05.000Z');
      expect(httpStatus).toBe(207);
      expect(saved.stored).toBe(true);
    } finally {
      await services.close();
    }
  });

  it('past the report budget, answers the report and logs it in full', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z');
    const dir = storage.uri(`case-${++n}`);
    let storing = 0;
    const services = await testServices(yamlFor(ok, hanging), dir, {
      clock,
      openStore: async (uri) => {
        const store = await openStore(uri);
        // A reports store whose writes never finish (a stalled upload).
        return uri.endsWith('/reports') ? stalledWrites(store, () => storing++) : store;
      },
    });
    try {
      const running = execute(services, makeTrigger('http', { collectors: ['ok'] }));
      await until(() => storing > 0, 'report write started');
      clock.advance(2_000);
      const { report, saved } = await running;
      expect(report.collectors['ok']!.status).toBe('success');
      expect(saved).toEqual({
        stored: false,
        location: null,
        error:
          'execution report not stored: the report was not stored within scheduler.report_budget_seconds (2 s) after the dispatch ended; it was logged in full',
      });
      const logged = services.logs.filter((e) => e.severity === 'ERROR' && e['report']);
      expect(logged.map((e) => e['report'])).toEqual([report]);
    } finally {
      await services.close();
    }
  });
});

describe('a dispatcher that does not settle after the deadline', () => {
  it('is waited for half the report budget; what it finished stands, the rest is reported Timeout', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z');
    const targets = ['fast', 'stuck'].map((name) => ({ name }) as DispatchTarget);
    const stuck: Dispatcher = {
      dispatch: (_targets, options) => {
        options.onProgress?.({ type: 'start', name: 'fast', attempt: 1, url: 'http://x' });
        options.onProgress?.({
          type: 'finish',
          outcome: {
            name: 'fast',
            status: 'success',
            httpStatus: 200,
            error: null,
            errorType: null,
            startMs: clock.now(),
            endMs: clock.now(),
            attempts: 1,
            result: null,
          },
        });
        return new Promise(() => undefined); // ignores its signal
      },
    };
    const budget = new ReportBudget(clock, 4_000);
    const result = dispatchUntilDeadline(stuck, targets, {
      clock,
      deadlineMs: 1_000,
      deadlineReason: new SchedulerError('COLLECTOR_TIMEOUT', 'deadline reached'),
      shutdown: new AbortController().signal,
      budget,
      force: false,
    });
    clock.advance(1_000); // the deadline
    clock.advance(2_000); // half the budget
    const { outcomes, dispatchedAny } = await result;
    expect(dispatchedAny).toBe(true);
    expect(outcomes.map((o) => [o.name, o.status, o.errorType, o.error])).toEqual([
      ['fast', 'success', null, null],
      ['stuck', 'failed', 'Timeout', 'deadline reached; the dispatch did not settle in time'],
    ]);
    expect(budget.report.aborted).toBe(false);
    budget.clear();
  });
});

/** `store` with every write hanging (counted by `onWrite`); reads and lists still work. */
function stalledWrites(store: ObjectStore, onWrite: () => void): ObjectStore {
  return {
    location: store.location,
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    delete: (key, options) => store.delete(key, options),
    scope: (prefix) => stalledWrites(store.scope(prefix), onWrite),
    put: () => {
      onWrite();
      return new Promise(() => undefined);
    },
    putStream: () => {
      onWrite();
      return new Promise(() => undefined);
    },
  };
}
