/**
 * The collectors' shards are their units of work (issue 15): PLU by commune (and its box), DVF by
 * (year, département) or year, the contours by département (or layer). Listed from the options or a
 * listing call against the loopback upstreams; a key the options do not cover is refused; a shard's
 * run covers its shard only. And PLU sharded through the scheduler, end to end.
 */
import { builtinCollectors } from '../../collectors';
import { dvf } from '../../collectors/dvf';
import { inseeContours } from '../../collectors/insee-contours';
import { plu } from '../../collectors/plu';
import type { Collector, ShardPlan } from '../../src/runtime/contract';
import { CollectorRegistry } from '../../src/runtime/registry';
import { readRunRecord } from '../../src/runtime/run-records';
import { startRig } from '../modes/rig';
import { storeFixture } from '../support/stores';
import { tempDirs } from '../support/temp';
import { startDvfUpstream } from '../support/upstreams/dvf';
import { startGeoUpstream } from '../support/upstreams/geo';
import { communeWithPlu, startPluUpstream } from '../support/upstreams/plu';
import { makeHarness } from './harness';

const temp = tempDirs();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  temp.cleanup();
});

function plan<O>(collector: Collector<O>): ShardPlan<O> {
  expect(collector.shards).toBeDefined();
  return collector.shards!;
}

async function listed<O>(
  collector: Collector<O>,
  options: Record<string, unknown>,
): Promise<readonly string[]> {
  const h = makeHarness(temp.make(collector.name));
  return plan(collector).list(h.context(collector, options, new AbortController().signal));
}

describe('PLU shards by commune', () => {
  it('lists the configured communes and the box; a commune’s shard syncs that commune only', async () => {
    const up = await startPluUpstream([communeWithPlu('35238', 4), communeWithPlu('2A004', 2)]);
    closers.push(() => up.close());
    const options = { base_url: up.baseUrl, communes: ['35238', '2A004'], bbox: [2.2, 48.8, 2.3, 48.9] };
    expect(await listed(plu, options)).toEqual(['35238', '2A004', 'bbox']);
    expect(plan(plu).options(options, '2A004')).toEqual({ base_url: up.baseUrl, communes: ['2A004'] });
    expect(() => plan(plu).options(options, '75056')).toThrow('options.communes does not list commune 75056');
    expect(() => plan(plu).options({ communes: ['35238'] }, 'bbox')).toThrow('options.bbox is not set');

    const h = makeHarness(temp.make('plu-shard'));
    const { record } = await h.run(plu, options, { shard: '2A004' });
    expect(record).toMatchObject({ status: 'success', shard: '2A004' });
    expect(record.manifest!.objects.map((o) => o.key)).toEqual([
      '2A004/20261122T020000Z/zone-urba.geojson',
      '2A004/20261122T020000Z/document.geojson',
    ]);
    // Its manifest is the shard's own: another shard's run of the same time does not replace it.
    expect(record.manifest!.location).toMatch(/\/plu\/manifests\/shards\/2A004\/20261122T020000Z\.json$/);
    expect(up.calls().some((c) => c.includes('35238'))).toBe(false);
  });
});

describe('DVF shards by (year, département)', () => {
  it('lists each year’s département files from the release’s listing, or the years of national files', async () => {
    const up = await startDvfUpstream({ years: [2024, 2025] });
    closers.push(() => up.close());
    expect(await listed(dvf, { base_url: up.baseUrl, departements: ['75', '2A'] })).toEqual([
      '2024-75',
      '2024-2A',
      '2025-75',
      '2025-2A',
    ]);
    // departements: all means what the release's listing holds (no 57: DVF does not cover it).
    expect(await listed(dvf, { base_url: up.baseUrl, years: [2025] })).toEqual(
      ['01', '13', '2A', '33', '44', '75', '92', '971'].map((d) => `2025-${d}`),
    );
    expect(await listed(dvf, { base_url: up.baseUrl, files: 'national' })).toEqual(['2024', '2025']);

    const raw = { base_url: up.baseUrl, years: [2024, 2025] };
    expect(plan(dvf).options(raw, '2024-2A')).toEqual({ ...raw, years: [2024], departements: ['2A'] });
    expect(() => plan(dvf).options(raw, '2023-75')).toThrow('options.years does not hold 2023');
    expect(() => plan(dvf).options(raw, '2024')).toThrow(/is not a DVF shard/);
    expect(() => plan(dvf).options({ ...raw, files: 'national' }, '2024-75')).toThrow(/is not a DVF shard/);

    const h = makeHarness(temp.make('dvf-shard'));
    const { record } = await h.run(dvf, raw, { shard: '2025-75' });
    expect(record.status).toBe('success');
    expect(record.manifest!.objects.map((o) => o.key)).toEqual(['2025-04/2025/departements/75.csv.gz']);
  });
});

describe('contours shard by département', () => {
  it('lists the configured départements, or every one the API lists, or the static layers', async () => {
    const up = await startGeoUpstream(['75', '92', '2A']);
    closers.push(() => up.close());
    expect(await listed(inseeContours, { base_url: up.url, departements: ['92', '75'] })).toEqual([
      '92',
      '75',
    ]);
    expect(await listed(inseeContours, { base_url: up.url, departements: 'all' })).toEqual([
      '75',
      '92',
      '2A',
    ]);
    expect(await listed(inseeContours, { source: 'static', layers: ['communes', 'epci'] })).toEqual([
      'communes',
      'epci',
    ]);
    const raw = { base_url: up.url, departements: 'all' };
    expect(plan(inseeContours).options(raw, '2A')).toEqual({ ...raw, departements: ['2A'] });
    expect(() => plan(inseeContours).options(raw, '20')).toThrow('"20" is not a département');
    expect(() => plan(inseeContours).options({ departements: ['75'] }, '92')).toThrow(
      'options.departements does not hold 92',
    );

    const h = makeHarness(temp.make('contours-shard'));
    const { record } = await h.run(inseeContours, raw, { shard: '2A' });
    expect(record).toMatchObject({ status: 'success', shard: '2A' });
    expect(record.manifest!.objects.map((o) => o.key)).toEqual(['2026-11-22/communes-2A.geojson']);
  });
});

describe('PLU sharded through the scheduler', () => {
  it('runs each commune as a shard of its own, with its own record and manifest', async () => {
    const up = await startPluUpstream([communeWithPlu('35238', 4), communeWithPlu('2A004', 2)]);
    closers.push(() => up.close());
    const storage = storeFixture('fs');
    await storage.setup();
    closers.push(() => storage.teardown());
    const rig = await startRig({
      mode: 'http',
      storage,
      dir: temp.make('plu-rig'),
      registry: new CollectorRegistry(builtinCollectors()),
      collectors: {
        plu: `{ schedule: "0 * * * *", shards: true, options: { base_url: "${up.baseUrl}", communes: ["35238", "2A004"] } }`,
      },
    });
    closers.push(() => rig.close());
    const { body } = await rig.trigger(undefined, {
      'x-cloudscheduler-scheduletime': '2026-11-22T14:00:00Z',
      'x-cloudscheduler': 'true',
    });
    expect(body.collectors['plu']).toMatchObject({
      status: 'success',
      shards: { total: 2, done: 2, failed: 0 },
      result: { records: 6 },
    });
    for (const [insee, zones] of [
      ['35238', 4],
      ['2A004', 2],
    ] as const) {
      const record = await readRunRecord(rig.services.stores.state, body.execution_id, 'plu', insee);
      expect(record).toMatchObject({ status: 'success', shard: insee, result: { records: zones } });
      expect(record!.manifest!.location).toContain(`/plu/manifests/shards/${insee}/`);
    }
  });
});
