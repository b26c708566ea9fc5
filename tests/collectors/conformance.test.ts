import { builtinCollectors } from '../../collectors';
import type { Collector } from '../../src/runtime/contract';
import { partialFields } from '../../src/report/report';
import { PermanentError } from '../../src/runtime/errors';
import { CollectorRegistry } from '../../src/runtime/registry';
import { tempDirs } from '../support/temp';
import { upstreamFixtures, type UpstreamFixture } from '../support/upstreams';
import { makeHarness, verifyManifest } from './harness';

/**
 * One suite, run over every built-in collector (BullMQ runs one suite over every backend): the
 * plug-in contract every collector must keep, checked against its own loopback upstream.
 */

const COLLECTOR_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const collectors = builtinCollectors();
const temp = tempDirs();

it('registers every built-in collector under a distinct name', () => {
  expect(collectors.length).toBeGreaterThanOrEqual(4);
  expect(() => new CollectorRegistry(collectors)).not.toThrow();
});

describe.each(collectors.map((c) => [c.name, c] as const))(
  'collector %s',
  (name, collector: Collector<unknown>) => {
    let fixture: UpstreamFixture | null = null;

    async function upstream(): Promise<UpstreamFixture> {
      const start = upstreamFixtures[name];
      if (!start)
        throw new Error(`no loopback upstream for "${name}": add one to tests/support/upstreams/index.ts`);
      fixture = await start();
      return fixture;
    }

    afterEach(async () => {
      await fixture?.close();
      fixture = null;
      temp.cleanup();
    });

    it('has a loopback upstream fixture', () => {
      expect(Object.keys(upstreamFixtures)).toContain(name);
    });

    it('has a valid name and a description', () => {
      expect(collector.name).toMatch(COLLECTOR_NAME);
      expect(collector.description.trim().length).toBeGreaterThan(10);
    });

    it('rejects an unknown option with a PermanentError naming options.<key>', () => {
      let thrown: unknown = null;
      try {
        collector.parseOptions({ no_such_option: true });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(PermanentError);
      expect((thrown as Error).message).toContain('options.no_such_option');
    });

    it('gives usable defaults for no options, without touching its input', () => {
      const input = Object.freeze({});
      const defaults = collector.parseOptions(input);
      expect(defaults).toEqual(expect.any(Object));
      expect(collector.parseOptions({})).toEqual(defaults);
      // Defaults point at the real public service.
      const urls = JSON.stringify(defaults).match(/https?:\/\/[^"]+/g) ?? [];
      expect(urls.every((u) => u.startsWith('https://'))).toBe(true);
    });

    it('runs against its loopback upstream and ends with a manifest whose totals match its objects', async () => {
      const up = await upstream();
      const h = makeHarness(temp.make(`conf-${name}`));
      const { record, httpStatus } = await h.run(collector, up.options, { env: up.env });

      expect(record.error).toBeNull();
      expect(record.status).toBe('success');
      expect(httpStatus).toBe(200);
      const manifest = record.manifest!;
      expect(manifest.collector).toBe(name);
      expect(manifest.objects.length).toBeGreaterThan(0);
      expect(manifest.totals.records).toBe(record.result?.records);
      await verifyManifest(h.raw, name, manifest);
    });

    it('records a unit of work that fails in its manifest, with its reason, and goes on with the others', async () => {
      const up = await upstream();
      up.failOneUnit();
      const h = makeHarness(temp.make(`conf-${name}`));
      const { record, httpStatus } = await h.run(collector, up.options, { env: up.env });

      expect(record.error).toBeNull();
      expect(record.status).toBe('success');
      expect(httpStatus).toBe(200);
      const units = record.manifest!.units!;
      expect(units.failed).toBe(1);
      expect(units.succeeded).toBeGreaterThan(0);
      expect(units.failures).toEqual([
        expect.objectContaining({
          unit: expect.any(String),
          error: expect.stringMatching(/answered 50\d/),
          retryable: true,
        }),
      ]);
      expect(record.result?.units).toMatchObject({ failed: 1 });
      // The report marks it partial, keeping status: success for the original report's readers.
      expect(partialFields(record.status, record.result)).toEqual({
        partial: true,
        units: { total: units.total, succeeded: units.succeeded, skipped: units.skipped, failed: 1 },
      });
      await verifyManifest(h.raw, name, record.manifest!);
    });

    it('leaves the same object keys when the same (collector, scheduledTime) runs again', async () => {
      const up = await upstream();
      const h = makeHarness(temp.make(`conf-${name}`));
      const first = await h.run(collector, up.options, { env: up.env });
      const keys = await h.rawKeys(name);
      const second = await h.run(collector, up.options, { env: up.env, attempt: 2 });

      expect(first.record.status).toBe('success');
      expect(second.record.status).toBe('success');
      expect(keys.length).toBeGreaterThan(1);
      expect(await h.rawKeys(name)).toEqual(keys);
    });

    it('settles promptly when its signal aborts while a request is in flight', async () => {
      const up = await upstream();
      const h = makeHarness(temp.make(`conf-${name}`));
      up.faults.hangEverything();
      const controller = new AbortController();
      const run = collector.run(h.context(collector, up.options, controller.signal, up.env));
      await up.server.waitForRequests(1);
      controller.abort(new Error('collector deadline'));
      await expect(run).rejects.toThrow('collector deadline');
    });

    it('settles at once, without calling its upstream, when its signal is already aborted', async () => {
      const up = await upstream();
      const h = makeHarness(temp.make(`conf-${name}`));
      const controller = new AbortController();
      controller.abort(new Error('already cancelled'));
      await expect(
        collector.run(h.context(collector, up.options, controller.signal, up.env)),
      ).rejects.toThrow('already cancelled');
      expect(up.server.requests).toHaveLength(0);
    });
  },
);
