import { plu } from '../../collectors/plu';
import { tempDirs } from '../support/temp';
import { fitToBudget, withinCommune } from '../../collectors/plu/area';
import { pluLegacyOptions } from '../../collectors/plu/options';
import {
  communesOfPlui,
  communeWithCarteCommunale,
  communeWithPlu,
  startPluUpstream,
  type GpuCommune,
  type PluUpstream,
  type PluUpstreamOptions,
} from '../support/upstreams/plu';
import { makeHarness, verifyManifest, type Harness } from './harness';

const temp = tempDirs();
let upstream: PluUpstream | null = null;

afterEach(async () => {
  await upstream?.close();
  upstream = null;
  temp.cleanup();
});

async function setup(
  communes: GpuCommune[],
  options?: PluUpstreamOptions,
): Promise<{ up: PluUpstream; h: Harness }> {
  upstream = await startPluUpstream(communes, options);
  return { up: upstream, h: makeHarness(temp.make('plu')) };
}

interface Fc {
  type: string;
  features: { properties: Record<string, unknown> }[];
}
const parse = (data: Buffer | null) => JSON.parse(data!.toString('utf8')) as Fc;

const KB = 1024;

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
    // The watermark is made of the fields document features carry (no datappro there).
    expect(await h.readState('plu', 'communes/35238.json')).toMatchObject({
      documents: [
        {
          gpu_doc_id: 'doc3523820230615',
          partition: 'DU_35238',
          du_type: 'PLU',
          gpu_status: 'document.production',
        },
      ],
    });
    expect(record.result?.units).toMatchObject({ total: 2, succeeded: 2, failed: 0 });
  });

  it('takes secteur-cc for a carte communale, whose zone-urba is empty', async () => {
    const { up, h } = await setup([communeWithCarteCommunale('01004', 3)]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['01004'] });
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => [o.key, o.records])).toEqual([
      ['01004/20261122T020000Z/secteur-cc.geojson', 3],
      ['01004/20261122T020000Z/document.geojson', null],
    ]);
    expect(up.calls()).toEqual([
      'GET /api/gpu/document?partition=DU_01004',
      'GET /api/gpu/secteur-cc?partition=DU_01004',
    ]);
    expect(record.result?.summary).toMatchObject({
      written: [{ insee: '01004', zones: 3, resource: 'secteur-cc', via: 'partition' }],
    });
  });

  it('falls back to secteur-cc when a document not marked CC answers an empty zone-urba', async () => {
    const cc = communeWithCarteCommunale('01005', 2);
    // The document says POS, but the commune's zoning is published as secteurs.
    const { up, h } = await setup([
      { ...cc, document: { ...cc.document!, du_type: 'POS' }, publishes: 'secteur-cc' },
    ]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['01005'] });
    expect(record.manifest?.objects[0]).toMatchObject({
      key: '01005/20261122T020000Z/secteur-cc.geojson',
      records: 2,
    });
    expect(up.calls()).toEqual([
      'GET /api/gpu/document?partition=DU_01005',
      'GET /api/gpu/zone-urba?partition=DU_01005',
      'GET /api/gpu/secteur-cc?partition=DU_01005',
    ]);
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

  it('splits an answer that reaches the 5000-feature cap into tiles until every zone is found', async () => {
    const { up, h } = await setup([communeWithPlu('75056', 5100)]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['75056'] });
    expect(record.status).toBe('success');
    expect(record.manifest?.objects[0]).toMatchObject({
      key: '75056/20261122T020000Z/zone-urba.geojson',
      records: 5100,
    });
    const zones = parse(await h.readRaw('plu', '75056/20261122T020000Z/zone-urba.geojson'));
    expect(new Set(zones.features.map((f) => f.properties['gid'])).size).toBe(5100);
    expect(record.result?.summary).toMatchObject({
      fallbacks: [{ insee: '75056', why: expect.stringContaining("reached API Carto's cap") }],
    });
    expect(record.result?.summary).not.toHaveProperty('warnings');
  });

  it('warns when a tile still reaches the cap at the deepest split', async () => {
    const { up, h } = await setup([communeWithPlu('75056', 400)], { cap: 100 });
    const { record } = await h.run(plu, {
      base_url: up.baseUrl,
      communes: ['75056'],
      max_features: 100,
      max_split_depth: 0,
    });
    expect(record.status).toBe('success');
    expect(record.result?.summary).toMatchObject({
      warnings: [expect.stringContaining("75056: zone-urba still reached API Carto's cap of 100 features")],
    });
  });

  it('answers a 413 on a large outline by simplifying it, and keeps only the zones inside the commune', async () => {
    // Two communes of one PLUi: 35002 has a detailed outline (about 300 kB of JSON) and no partition of
    // its own; its neighbour 35001 has zones straddling their border.
    const [a, b] = communesOfPlui('200012345', ['35001', '35002'], 5);
    const { up, h } = await setup([
      { ...a!, borderZones: 3 },
      { ...b!, outlineDetail: 4000 },
    ]);
    expect(JSON.stringify(up.outline('35002')).length).toBeGreaterThan(200 * KB);
    // Sent whole (the collector is told the limit is higher than it is): API Carto answers 413.
    const { record } = await h.run(plu, {
      base_url: up.baseUrl,
      communes: ['35002'],
      max_body_bytes: 1_000_000,
    });

    expect(record.status).toBe('success');
    expect(up.statuses).toContain(413);
    const posts = up.server.requests.filter((r) => r.method === 'POST');
    expect(
      posts.every((r) => r.body.length <= 100 * KB || up.statuses[up.server.requests.indexOf(r)] === 413),
    ).toBe(true);
    const zones = parse(await h.readRaw('plu', '35002/20261122T020000Z/zone-urba.geojson'));
    expect(zones.features).toHaveLength(5);
    expect(zones.features.every((f) => String(f.properties['gid']) <= '5')).toBe(true);
    expect(record.result?.summary).toMatchObject({
      written: [{ insee: '35002', zones: 5, via: 'geometry' }],
    });
  });

  it('simplifies a large outline before sending it, so API Carto never answers 413', async () => {
    const { up, h } = await setup([
      { ...communesOfPlui('200012345', ['35003'], 6)[0]!, outlineDetail: 4000 },
    ]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['35003'] });
    expect(record.status).toBe('success');
    expect(up.statuses).not.toContain(413);
    expect(up.server.requests.filter((r) => r.method === 'POST').every((r) => r.body.length <= 100_000)).toBe(
      true,
    );
    expect(record.manifest?.objects[0]).toMatchObject({ records: 6 });
  });

  it('tiles the area when even a tile is refused (413 injected)', async () => {
    const { up, h } = await setup(communesOfPlui('200012345', ['35004'], 9));
    up.faults.inject(
      { kind: 'status', status: 413, body: 'request entity too large' },
      { times: 2, match: /zone-urba/ },
    );
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['35004'] });
    expect(record.status).toBe('success');
    expect(record.manifest?.objects[0]).toMatchObject({ records: 9 });
  });

  it('isolates a failing commune: the others are stored, the failure is in the manifest', async () => {
    const { up, h } = await setup([communeWithPlu('35238', 4), communeWithPlu('35047', 3)]);
    up.faults.inject({ kind: 'status', status: 500 }, { times: 10, match: /DU_35238/ });
    const { record, httpStatus } = await h.run(plu, {
      base_url: up.baseUrl,
      communes: ['35238', '35047', '99999'],
    });
    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key)).toEqual([
      '35047/20261122T020000Z/zone-urba.geojson',
      '35047/20261122T020000Z/document.geojson',
    ]);
    expect(record.manifest?.units).toMatchObject({
      total: 3,
      succeeded: 1,
      failed: 2,
      failures: [
        { unit: 'commune 35238', retryable: true, error: expect.stringContaining('answered 500') },
        {
          unit: 'commune 99999',
          retryable: false,
          error: expect.stringContaining('API Carto knows no commune 99999'),
        },
      ],
    });
  });

  it('also collects everything inside options.bbox', async () => {
    const { up, h } = await setup([communeWithPlu('35238', 4), communeWithCarteCommunale('35239', 2)]);
    const { record } = await h.run(plu, {
      base_url: up.baseUrl,
      communes: ['35238'],
      bbox: [1.9, 47.9, 2.5, 48.5],
    });
    expect(record.status).toBe('success');
    expect(
      record.manifest?.objects.filter((o) => o.key.startsWith('bbox/')).map((o) => [o.key, o.records]),
    ).toEqual([
      ['bbox/20261122T020000Z/zone-urba.geojson', 4],
      ['bbox/20261122T020000Z/secteur-cc.geojson', 2],
    ]);
  });

  it('falls back to the commune outline when its partition answers an empty zone-urba (apicarto#61)', async () => {
    const { up, h } = await setup([{ ...communeWithPlu('35238', 7), emptyPartition: true }]);
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['35238'] });

    expect(up.calls()).toEqual([
      'GET /api/gpu/document?partition=DU_35238',
      'GET /api/gpu/zone-urba?partition=DU_35238',
      'GET /api/gpu/secteur-cc?partition=DU_35238',
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
    const { up, h } = await setup(communesOfPlui('200012345', ['35001', '35002']));
    const { record } = await h.run(plu, { base_url: up.baseUrl, communes: ['35001'] });

    expect(up.calls()).toEqual([
      'GET /api/gpu/document?partition=DU_35001',
      'GET /api/gpu/municipality?insee=35001',
      'POST /api/gpu/document',
      'POST /api/gpu/zone-urba',
    ]);
    const zones = parse(await h.readRaw('plu', '35001/20261122T020000Z/zone-urba.geojson'));
    expect(zones.features).toHaveLength(4);
    expect(record.result?.summary).toMatchObject({
      written: [{ insee: '35001', zones: 4, via: 'geometry' }],
      fallbacks: [{ insee: '35001', why: expect.stringContaining('no document in partition DU_35001') }],
    });
    expect(await h.readState('plu', 'communes/35001.json')).toMatchObject({
      via: 'geometry',
      documents: [{ gpu_doc_id: 'plui200012345', partition: 'DU_200012345' }],
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
    expect(record.error).toContain('options.communes.0: "7505" is not an INSEE commune code');
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

describe('plu helpers', () => {
  const square = (x: number, y: number, size: number, detail = 1) => {
    const ring: number[][] = [];
    const corners = [
      [x, y],
      [x + size, y],
      [x + size, y + size],
      [x, y + size],
      [x, y],
    ];
    for (let c = 0; c < 4; c++)
      for (let i = 0; i < detail; i++)
        ring.push([
          corners[c]![0]! + ((corners[c + 1]![0]! - corners[c]![0]!) * i) / detail,
          corners[c]![1]! + ((corners[c + 1]![1]! - corners[c]![1]!) * i) / detail,
        ]);
    ring.push([x, y]);
    return { type: 'Polygon', coordinates: [ring] };
  };

  it('simplifies an outline until its JSON fits the budget, keeping its shape', () => {
    const detailed = square(2, 48, 0.1, 5000);
    expect(JSON.stringify(detailed).length).toBeGreaterThan(200_000);
    const fitted = fitToBudget(detailed, 10_000)!;
    expect(JSON.stringify(fitted).length).toBeLessThanOrEqual(10_000);
    const ring = (fitted.coordinates as number[][][][])[0]![0]!;
    expect(ring).toEqual(
      expect.arrayContaining([
        [2, 48],
        [2.1, 48],
      ]),
    );
  });

  it('keeps the features inside the commune, by insee when they say, else by where they lie', () => {
    const outline = square(2, 48, 0.1);
    const feature = (geometry: unknown, properties: Record<string, unknown> = {}) => ({
      type: 'Feature' as const,
      geometry: geometry as never,
      properties,
    });
    const kept = withinCommune(
      [
        feature(square(2.01, 48.01, 0.02), { gid: 1 }),
        feature(square(2.095, 48.01, 0.02), { gid: 2 }), // mostly in the neighbour
        feature(square(2.085, 48.01, 0.02), { gid: 3 }), // mostly inside
        feature(square(5, 5, 1), { gid: 4, insee: '35001' }),
        feature(square(2.01, 48.01, 0.02), { gid: 5, insee: '35002' }),
      ],
      '35001',
      outline as never,
    );
    expect(kept.map((f) => f.properties?.['gid'])).toEqual([1, 3, 4]);
  });

  it('reads the original layout’s data_sources.plu', () => {
    expect(
      pluLegacyOptions({
        wfs_endpoint: 'https://wxs.ign.fr/x/geoportail/wfs',
        max_features: 1000,
        layer_types: ['zone_urba'],
        filter_options: { insee_codes: ['75056', 1004], default_bbox: '2.2,48.8,2.5,48.9' },
      }),
    ).toEqual({
      options: { max_features: 1000, communes: ['75056', '01004'], bbox: [2.2, 48.8, 2.5, 48.9] },
      from: {
        max_features: 'max_features',
        communes: 'filter_options.insee_codes',
        bbox: 'filter_options.default_bbox',
      },
      unmapped: [
        { key: 'wfs_endpoint', why: expect.stringContaining('API Carto') },
        { key: 'layer_types', why: expect.stringContaining('secteur-cc') },
      ],
    });
  });
});
