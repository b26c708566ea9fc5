import { execute } from '../../src/execution/execute';
import { seededRandom } from '../support/seeded-random';
import { makeTrigger } from '../../src/execution/trigger';
import { createApp } from '../../src/http/app';
import { close, createNodeServer, listen } from '../../src/http/node-server';
import { LeaseManager } from '../../src/lease/lease';
import { CollectorRegistry } from '../../src/runtime/registry';
import type { Services } from '../../src/services';
import { openStore } from '../../src/store/open';
import { FakeClock } from '../support/fake-clock';
import { captureLogger, testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { testCollector } from '../support/test-collectors';

const manual = makeTrigger('cli');

interface Interval {
  collector: string;
  executionId: string;
  start: number;
  end: number;
}

/** Group members that record, on the collector side, when each run really started and ended. */
function recordingRegistry(intervals: Interval[], names: string[]): CollectorRegistry {
  const random = seededRandom(names.length * 7919);
  return new CollectorRegistry(
    names.map((name) =>
      testCollector(name, async (ctx) => {
        const start = performance.now();
        // The collector's work: a few milliseconds of real time, varied by a seeded random.
        await new Promise((r) => setTimeout(r, 2 + Math.floor(random() * 12)));
        intervals.push({ collector: name, executionId: ctx.executionId, start, end: performance.now() });
        return { records: 1 };
      }),
    ),
  );
}

function overlapping(intervals: Interval[]): [Interval, Interval][] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const pairs: [Interval, Interval][] = [];
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j]!.start < sorted[i]!.end; j++)
      pairs.push([sorted[i]!, sorted[j]!]);
  }
  return pairs;
}

describe.each(STORE_KINDS)('credential groups on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());

  let n = 0;
  const yamlFor = (prefix: string, extra = '') => `
storage: { reports: ${storage.uri(`${prefix}/reports`)}, raw: ${storage.uri(`${prefix}/raw`)}, state: ${storage.uri(`${prefix}/state`)} }
scheduler: { max_concurrent_collectors: 8, deadline_seconds: 600 }
collectors:
  xmp: { group: xmp-account, group_wait_seconds: 300 }
  xmp-6h: { group: xmp-account, group_wait_seconds: 300 }
  xmp-daily: { group: xmp-account, group_wait_seconds: 300 }
  dvf: {}
${extra}`;

  it('runs a group one member at a time, in config order, within one execution', async () => {
    const prefix = `seq-${++n}`;
    const intervals: Interval[] = [];
    const services = await testServices(yamlFor(prefix), '', {
      registry: recordingRegistry(intervals, ['xmp', 'xmp-6h', 'xmp-daily', 'dvf']),
    });
    try {
      const { report } = await execute(services, manual);
      expect(report.summary).toMatchObject({ total: 4, succeeded: 4 });
      const members = intervals.filter((i) => i.collector !== 'dvf').sort((a, b) => a.start - b.start);
      expect(members.map((i) => i.collector)).toEqual(['xmp', 'xmp-6h', 'xmp-daily']);
      expect(overlapping(members)).toEqual([]);
    } finally {
      await services.close();
    }
  });

  it('never overlaps members across 20 concurrent triggers on two scheduler instances', async () => {
    const prefix = `many-${++n}`;
    const intervals: Interval[] = [];
    const instances: Services[] = [];
    for (let i = 0; i < 2; i++) {
      instances.push(
        // Every trigger runs every collector: overlap allow, since the default (skip) drops a run while
        // another of the same collector is going. Group members still take turns: the group's lease.
        await testServices(
          yamlFor(prefix).replace('deadline_seconds: 600 }', 'deadline_seconds: 600, overlap: allow }'),
          '',
          {
            registry: recordingRegistry(intervals, ['xmp', 'xmp-6h', 'xmp-daily', 'dvf']),
            leaseMaxPollMs: 40,
          },
        ),
      );
    }
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => execute(instances[i % 2]!, manual)),
      );
      for (const { report } of results)
        expect(report.summary).toMatchObject({ total: 4, succeeded: 4, failed: 0, skipped: 0 });
      const members = intervals.filter((i) => i.collector !== 'dvf');
      expect(members).toHaveLength(60);
      expect(overlapping(members)).toEqual([]);
      // Ungrouped collectors are not held back by the group.
      expect(intervals.filter((i) => i.collector === 'dvf')).toHaveLength(20);
    } finally {
      await Promise.all(instances.map((s) => s.close()));
    }
  }, 120_000);

  it('skips a member that cannot get the lease within group_wait_seconds, naming the holder', async () => {
    const prefix = `busy-${++n}`;
    const clock = new FakeClock();
    const services = await testServices(
      yamlFor(prefix).replace(
        'xmp-daily: { group: xmp-account, group_wait_seconds: 300 }',
        'xmp-daily: { group: xmp-account, group_wait_seconds: 45 }',
      ),
      '',
      { registry: recordingRegistry([], ['xmp', 'xmp-6h', 'xmp-daily', 'dvf']), clock },
    );
    try {
      const holder = new LeaseManager(
        await openStore(storage.uri(`${prefix}/state`)),
        clock,
        captureLogger().logger,
      );
      const held = await holder.tryAcquire(
        'group-xmp-account',
        '20261122T135500Z-0a0b0c0d/xmp/ffff',
        3_600_000,
      );
      expect(held.acquired).toBe(true);
      const started = clock.now();
      const { report, httpStatus } = await execute(services, { ...manual, collectors: ['xmp-daily', 'dvf'] });
      expect(report.collectors['xmp-daily']).toMatchObject({
        status: 'skipped',
        reason: 'group_busy',
        group: 'xmp-account',
        holder_execution_id: '20261122T135500Z-0a0b0c0d',
        attempts: 0,
      });
      expect(report.collectors['xmp-daily']!.error).toMatch(
        /group xmp-account is busy: xmp of execution 20261122T135500Z-0a0b0c0d holds it \(waited 45 s/,
      );
      expect(clock.now() - started).toBeGreaterThanOrEqual(45_000);
      expect(report.collectors['dvf']!.status).toBe('success');
      expect(httpStatus).toBe(200);
    } finally {
      await services.close();
    }
  });

  describe('duplicate Cloud Scheduler deliveries', () => {
    async function serve(prefix: string, hits: string[]) {
      const services = await testServices(
        yamlFor(prefix).replace('dvf: {}', 'dvf: { schedule: "0 13 * * *" }'),
        '',
        {
          registry: new CollectorRegistry([
            testCollector('dvf', async (ctx) => {
              hits.push(ctx.executionId);
              return { records: 1 };
            }),
          ]),
        },
      );
      const server = createNodeServer(createApp(async () => services));
      const url = await listen(server);
      const deliver = (headers: Record<string, string> = {}, body?: unknown) =>
        fetch(`${url}/`, {
          method: 'POST',
          headers: {
            'x-cloudscheduler': 'true',
            'x-cloudscheduler-scheduletime': '2026-11-22T13:00:00Z',
            'x-cloudscheduler-jobname': 'projects/p/locations/l/jobs/master',
            'content-type': 'application/json',
            ...headers,
          },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
      return { deliver, stop: async () => (await close(server), await services.close()) };
    }

    it('answers 409 with the first execution id to a repeated delivery, and dispatches nothing', async () => {
      const hits: string[] = [];
      const { deliver, stop } = await serve(`dup-${++n}`, hits);
      try {
        const first = await deliver();
        expect(first.status).toBe(200);
        const firstReport = (await first.json()) as { execution_id: string };
        const second = await deliver();
        expect(second.status).toBe(409);
        const body = (await second.json()) as {
          error: { code: string; execution_id: string; message: string };
        };
        expect(body.error).toMatchObject({
          code: 'DUPLICATE_TRIGGER',
          execution_id: firstReport.execution_id,
        });
        expect(hits).toEqual([firstReport.execution_id]);
        // Another job's tick at the same time is its own execution.
        expect(
          (await deliver({ 'x-cloudscheduler-jobname': 'projects/p/locations/l/jobs/other' })).status,
        ).toBe(200);
        // A manual trigger is never a duplicate.
        expect((await deliver({ 'x-cloudscheduler-scheduletime': '' }, {})).status).not.toBe(409);
      } finally {
        await stop();
      }
    });

    it('lets exactly one of several simultaneous deliveries run', async () => {
      const hits: string[] = [];
      const { deliver, stop } = await serve(`dup-${++n}`, hits);
      try {
        const responses = await Promise.all(Array.from({ length: 6 }, () => deliver()));
        expect(responses.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
        expect(hits).toHaveLength(1);
      } finally {
        await stop();
      }
    });

    it('runs again with force: true, and says so in the report', async () => {
      const hits: string[] = [];
      const { deliver, stop } = await serve(`dup-${++n}`, hits);
      try {
        expect((await deliver()).status).toBe(200);
        const forced = await deliver({}, { force: true });
        expect(forced.status).toBe(200);
        expect(((await forced.json()) as { trigger: { forced: boolean } }).trigger.forced).toBe(true);
        expect(hits).toHaveLength(2);
      } finally {
        await stop();
      }
    });
  });
});
