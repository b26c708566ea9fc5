import { plu } from '../../collectors/plu';
import { tempDirs } from '../support/temp';
import {
  communeWithPlu,
  startPluUpstream,
  type GpuCommune,
  type PluUpstream,
} from '../support/upstreams/plu';
import { makeHarness, verifyManifest, type Harness } from './harness';

const temp = tempDirs();
let upstream: PluUpstream | null = null;

afterEach(async () => {
  await upstream?.close();
  upstream = null;
  temp.cleanup();
});

async function setup(communes: GpuCommune[]): Promise<{ up: PluUpstream; h: Harness }> {
  upstream = await startPluUpstream(communes);
  return { up: upstream, h: makeHarness(temp.make('plu')) };
}

interface Fc {
  type: string;
  features: { properties: Record<string, unknown> }[];
}
const parse = (data: Buffer | null) => JSON.parse(data!.toString('utf8')) as Fc;

const plui = (insee: string): GpuCommune => ({
  insee,
  name: `Commune ${insee}`,
  zones: 4,
  document: {
    gpu_doc_id: 'docPLUi200012345',
    partition: 'DU_200012345',
    du_type: 'PLUi',
    datappro: '2022-01-10',
    datvalid: '2022-01-10',
  },
});

describe('plu collector', () => {
  it('writes each commune’s zone-urba and document GeoJSON, found by its DU_<insee> partition', async () => {
    const { up, h } = await setup([communeWithPlu('35238', 12), communeWithPlu('2A004', 3)]);
    const { record, httpStatus } = await h.run(plu, { base_url: up.baseUrl, communes: ['35238', '2A004'] });

    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    await verifyManifest(h.raw, 'plu', record.manifest!);
    expect(record.manifest!.objects.map((o) => [o.key, o.records])).toEqual([
      ['35238/20261122T020000Z/zone-urba.geojson', 12],
      ['35238/20261122T020000Z/document.geojson', null],
      ['2A004/20261122T020000Z/zone-urba.geojson', 3],
      ['2A004/20261122T020000Z/document.geojson', null],
    ]);
    const zones = parse(await h.readRaw('plu', '35238/20261122T020000Z/zone-urba.geojson'));
    expect(zones.type).toBe('FeatureCollection');
    expect(zones.features[0]!.properties).toMatchObject({ partition: 'DU_35238', typezone: 'U' });
    expect(up.calls()).toEqual([
      'GET /api/gpu/document?partition=DU_35238',
      'GET /api/gpu/zone-urba?partition=DU_35238',
      'GET /api/gpu/document?partition=DU_2A004',
      'GET /api/gpu/zone-urba?partition=DU_2A004',
    ]);
    expect(record.result).toMatchObject({ records: 15, summary: { communes: 2, zones: 15 } });
    expect(await h.readState('plu', 'communes/35238.json')).toMatchObject({
      documents: [{ gpu_doc_id: 'doc3523820230615', datappro: '2023-06-15', datvalid: '2023-06-15' }],
    });
  });

  it('skips a commune whose documents are unchanged, and refetches it when a new version is approved', async () => {
    const { up, h } = await setup([communeWithPlu('35238'), communeWithPlu('35047')]);
    const options = { base_url: up.baseUrl, communes: ['35238', '35047'] };
    await h.run(plu, options, { scheduledTime: '2026-11-20T02:00:00Z' });

    const calls = up.calls().length;
    const same = await h.run(plu, options, { scheduledTime: '2026-11-21T02:00:00Z' });
    expect(up.calls().slice(calls)).toEqual([
      'GET /api/gpu/document?partition=DU_35238',
      'GET /api/gpu/document?partition=DU_35047',
    ]);
    expect(same.record.manifest?.objects).toEqual([]);
    expect(same.record.result?.summary).toMatchObject({
      skipped: { unchanged: { communes: ['35238', '35047'] } },
    });

    up.update('35047', communeWithPlu('35047', 20, '2026-10-01'));
    const changed = await h.run(plu, options, { scheduledTime: '2026-11-22T02:00:00Z' });
    expect(changed.record.manifest?.objects.map((o) => o.key)).toEqual([
      '35047/20261122T020000Z/zone-urba.geojson',
      '35047/20261122T020000Z/document.geojson',
    ]);
    expect(changed.record.result?.records).toBe(20);
  });

  it('is idempotent for one scheduledTime: a rerun leaves the same objects', async () => {
    const { up, h } = await setup([communeWithPlu('35238')]);
    await h.run(plu, { base_url: up.baseUrl, communes: ['35238'] });
    const keys = await h.rawKeys('plu');
    const again = await h.run(plu, { base_url: up.baseUrl, communes: ['35238'] }, { attempt: 2 });
    expect(again.record.status).toBe('success');
    expect(await h.rawKeys('plu')).toEqual(keys);
    expect(keys.filter((k) => k.endsWith('.geojson'))).toHaveLength(2);
  });

  it('warns that a response of exactly 1000 features (the API Carto cap) may be truncated', async () => {
    const { up, h } = await setup([communeWithPlu('75056', 1400)]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['75056'] });
    expect(record.status).toBe('success');
    expect(record.manifest?.objects[0]).toMatchObject({
      key: '75056/20261122T020000Z/zone-urba.geojson',
      records: 1000,
    });
    expect(record.result?.summary).toMatchObject({
      warnings: [expect.stringContaining('75056: zone-urba returned 1000 features, API Carto')],
    });
  });

  it('falls back to the commune outline when its partition answers an empty zone-urba (apicarto#61)', async () => {
    const { up, h } = await setup([{ ...communeWithPlu('35238', 7), emptyPartition: true }]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['35238'] });

    expect(up.calls()).toEqual([
      'GET /api/gpu/document?partition=DU_35238',
      'GET /api/gpu/zone-urba?partition=DU_35238',
      'GET /api/gpu/municipality?insee=35238',
      'POST /api/gpu/zone-urba',
    ]);
    const posted = up.server.requests.at(-1)!.json as { geom: { type: string } };
    expect(posted.geom.type).toBe('MultiPolygon');
    expect(record.manifest?.objects[0]).toMatchObject({ records: 7 });
    expect(record.result?.summary).toMatchObject({
      written: [{ insee: '35238', zones: 7, via: 'geometry' }],
      fallbacks: [{ insee: '35238', why: expect.stringContaining('apicarto#61') }],
    });
  });

  it('queries a commune covered by an intercommunal PLUi by its outline', async () => {
    const { up, h } = await setup([plui('35001'), plui('35002')]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['35001'] });

    expect(up.calls()).toEqual([
      'GET /api/gpu/document?partition=DU_35001',
      'GET /api/gpu/municipality?insee=35001',
      'POST /api/gpu/document',
      'POST /api/gpu/zone-urba',
    ]);
    const zones = parse(await h.readRaw('plu', '35001/20261122T020000Z/zone-urba.geojson'));
    expect(zones.features).toHaveLength(4);
    expect(zones.features.every((f) => f.properties['insee'] === '35001')).toBe(true);
    expect(record.result?.summary).toMatchObject({
      written: [{ insee: '35001', zones: 4, via: 'geometry' }],
      fallbacks: [{ insee: '35001', why: expect.stringContaining('no document in partition DU_35001') }],
    });
    expect(await h.readState('plu', 'communes/35001.json')).toMatchObject({
      via: 'geometry',
      documents: [{ gpu_doc_id: 'docPLUi200012345', partition: 'DU_200012345' }],
    });
  });

  it('reports a commune under the RNU (no local plan) as skipped, without fetching zones', async () => {
    const { up, h } = await setup([{ insee: '01001', name: 'RNU', isRnu: true }]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['01001'] });
    expect(record.status).toBe('success');
    expect(record.manifest?.objects).toEqual([]);
    expect(record.result?.summary).toMatchObject({ skipped: { no_document: { communes: ['01001'] } } });
    expect(up.calls().some((c) => c.includes('zone-urba'))).toBe(false);
  });

  it('honours Retry-After on a 429 through the shared upstream retry', async () => {
    const { up, h } = await setup([communeWithPlu('35238')]);
    up.faults.inject(
      { kind: 'status', status: 429, headers: { 'retry-after': '5' } },
      { match: /zone-urba/ },
    );
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['35238'] });
    expect(record.status).toBe('success');
    expect(h.clock.sleeps).toEqual([5000]);
    expect(up.calls().filter((c) => c.includes('zone-urba'))).toHaveLength(2);
  });

  it('retries an upstream 5xx, then fails as retryable (HTTP 503)', async () => {
    const { up, h } = await setup([communeWithPlu('35238')]);
    up.faults.inject({ kind: 'status', status: 500 }, { times: 100 });
    const { record, httpStatus } = await h.run(plu, { base_url: up.baseUrl, communes: ['35238'] });
    expect(record).toMatchObject({ status: 'failed', retryable: true });
    expect(httpStatus).toBe(503);
    expect(up.calls()).toHaveLength(4);
  });

  it('fails bad options as not retryable (HTTP 200), naming the option', async () => {
    const { up, h } = await setup([]);
    const { record, httpStatus } = await h.run(plu, { base_url: up.baseUrl, communes: ['7505', '75056'] });
    expect(httpStatus).toBe(200);
    expect(record).toMatchObject({ status: 'failed', retryable: false });
    expect(record.error).toContain('options.communes.0: is not an INSEE commune code');
    expect(up.calls()).toEqual([]);
  });

  it('settles promptly when its signal aborts mid-request', async () => {
    const { up, h } = await setup([communeWithPlu('35238')]);
    up.faults.hangEverything();
    const controller = new AbortController();
    const run = plu.run(h.context(plu, { base_url: up.baseUrl, communes: ['35238'] }, controller.signal));
    await up.server.waitForRequests(1);
    controller.abort(new Error('deadline reached'));
    await expect(run).rejects.toThrow('deadline reached');
  });
});
