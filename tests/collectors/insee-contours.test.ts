import { gunzipSync } from 'node:zlib';
import { inseeContours } from '../../collectors/insee-contours';
import { inseeContoursLegacyOptions } from '../../collectors/insee-contours/options';
import { tempDirs } from '../support/temp';
import { startGeoUpstream, type GeoUpstream } from '../support/upstreams/geo';
import { makeHarness, verifyManifest, type Harness } from './harness';

const temp = tempDirs();
let upstream: GeoUpstream | null = null;

afterEach(async () => {
  await upstream?.close();
  upstream = null;
  temp.cleanup();
});

async function setup(
  departements?: string[],
  options?: Parameters<typeof startGeoUpstream>[1],
): Promise<{ up: GeoUpstream; h: Harness }> {
  upstream = await startGeoUpstream(departements, options);
  return { up: upstream, h: makeHarness(temp.make('contours')) };
}

const codes = (data: Buffer | null) =>
  (JSON.parse(data!.toString('utf8')) as { features: { properties: { code: string } }[] }).features.map(
    (f) => f.properties.code,
  );

describe('insee-contours collector, geo.api.gouv.fr', () => {
  it('includes the arrondissements of Paris, Lyon and Marseille (the codes DVF and SIRENE use)', async () => {
    const { up, h } = await setup(['75', '69', '13', '92']);
    const { record } = await h.run(inseeContours, {
      base_url: up.url,
      departements: ['75', '69', '13', '92'],
    });

    expect(record.status).toBe('success');
    await verifyManifest(h.raw, 'insee-contours', record.manifest!);
    expect(codes(await h.readRaw('insee-contours', '2026-11-22/communes-75.geojson'))).toEqual(
      expect.arrayContaining(['75056', '75101', '75120']),
    );
    expect(codes(await h.readRaw('insee-contours', '2026-11-22/communes-69.geojson'))).toContain('69381');
    expect(codes(await h.readRaw('insee-contours', '2026-11-22/communes-13.geojson'))).toContain('13216');
    expect(codes(await h.readRaw('insee-contours', '2026-11-22/communes-92.geojson'))).toHaveLength(4);
    const asked = up.server.requests
      .map((r) => new URL(r.path, 'http://x'))
      .filter((u) => u.pathname === '/communes');
    expect(asked.map((u) => u.searchParams.get('type'))).toEqual(
      Array(4).fill('commune-actuelle,arrondissement-municipal'),
    );
    expect(record.result?.summary).toMatchObject({
      source: 'api',
      version: '5.2.0',
      communes: 4 + 24 + 13 + 20,
    });
  });

  it('skips départements while the API serves the same data, and fetches them again when it changes', async () => {
    const { up, h } = await setup(['92', '93']);
    const options = { base_url: up.url, departements: ['92', '93'] };
    await h.run(inseeContours, options, { scheduledTime: '2026-11-20T02:00:00Z' });
    const same = await h.run(inseeContours, options, { scheduledTime: '2026-11-21T02:00:00Z' });
    expect(same.record.manifest?.objects).toEqual([]);
    expect(same.record.result?.summary).toMatchObject({ skipped: { departements: ['92', '93'] } });
    expect(same.record.result?.units).toMatchObject({ total: 2, skipped: 2 });

    up.setVersion('6.0.0');
    const changed = await h.run(inseeContours, options, { scheduledTime: '2026-11-22T02:00:00Z' });
    expect(changed.record.manifest?.objects.map((o) => o.key)).toEqual([
      '2026-11-22/communes-92.geojson',
      '2026-11-22/communes-93.geojson',
    ]);

    // An API that does not say what it serves is fetched every time.
    up.setVersion(null);
    const unknown = await h.run(inseeContours, options, { scheduledTime: '2026-11-23T02:00:00Z' });
    expect(unknown.record.manifest?.objects).toHaveLength(2);
  });

  it('isolates a failing département: the others are stored, the failure is in the manifest', async () => {
    const { up, h } = await setup(['92', '93', '94']);
    up.faults.inject({ kind: 'status', status: 500 }, { times: 10, match: /codeDepartement=93/ });
    const { record, httpStatus } = await h.run(inseeContours, {
      base_url: up.url,
      departements: ['92', '93', '94', '95'],
    });
    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key)).toEqual([
      '2026-11-22/communes-92.geojson',
      '2026-11-22/communes-94.geojson',
    ]);
    expect(record.manifest?.units).toMatchObject({
      total: 4,
      succeeded: 2,
      failed: 2,
      failures: [
        { unit: 'département 93', retryable: true },
        { unit: 'département 95', retryable: false },
      ],
    });
  });
});

describe('insee-contours collector, Etalab static files', () => {
  it('takes one national file per layer, falling back to an earlier year while the target is not published', async () => {
    const { up, h } = await setup(['75', '92'], { staticYears: [2023, 2024] });
    const options = {
      source: 'static',
      static_base_url: `${up.url}/contours-administratifs`,
      layers: ['communes', 'epci'],
      year: 2025,
      fallback_years: [2024, 2023],
    };
    const { record } = await h.run(inseeContours, options);

    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key)).toEqual([
      'static/2024/communes-100m.geojson.gz',
      'static/2024/epci-100m.geojson.gz',
    ]);
    const stored = await h.readRaw('insee-contours', 'static/2024/communes-100m.geojson.gz');
    expect(JSON.parse(gunzipSync(stored!).toString('utf8')).features[0].properties).toMatchObject({
      year: 2024,
    });
    expect(record.result?.summary).toMatchObject({ stored: { communes: '2024', epci: '2024' } });

    // Same year still served: skipped without downloading; the new year once published.
    const before = up.server.requests.length;
    const again = await h.run(inseeContours, options, { scheduledTime: '2026-11-23T02:00:00Z' });
    expect(again.record.manifest?.objects).toEqual([]);
    expect(up.server.requests.slice(before).map((r) => r.path)).toEqual([
      '/contours-administratifs/2025/geojson/communes-100m.geojson.gz',
      '/contours-administratifs/2025/geojson/epci-100m.geojson.gz',
    ]);
    up.publishYear(2025);
    const next = await h.run(inseeContours, options, { scheduledTime: '2026-11-24T02:00:00Z' });
    expect(next.record.manifest?.objects.map((o) => o.key)).toEqual([
      'static/2025/communes-100m.geojson.gz',
      'static/2025/epci-100m.geojson.gz',
    ]);
  });

  it('fails a layer published for none of the years tried, naming the options', async () => {
    const { up, h } = await setup(['75'], { staticYears: [2024] });
    const { record } = await h.run(inseeContours, {
      source: 'static',
      static_base_url: `${up.url}/contours-administratifs`,
      layers: ['regions'],
      year: 2019,
    });
    expect(record.status).toBe('failed');
    expect(record.error).toContain('regions-100m.geojson.gz is published for none of the years tried (2019)');
    expect(record.error).toContain('options.year');
  });

  it('refuses options of the other source, naming them', () => {
    expect(() => inseeContours.parseOptions({ layers: ['communes'] })).toThrow(
      'options.layers: applies to source: static, and source is api',
    );
    expect(() => inseeContours.parseOptions({ source: 'static', departements: ['75'] })).toThrow(
      'options.departements: applies to source: api, and source is static',
    );
  });

  it('reads the original layout’s data_sources.insee_contours as static options', () => {
    expect(
      inseeContoursLegacyOptions({
        data_types: ['communes', 'departements'],
        formats: ['geojson', 'shp'],
        target_year: 2024,
        fallback_years: [2023],
      }),
    ).toEqual({
      options: { layers: ['communes', 'departements'], year: 2024, fallback_years: [2023], source: 'static' },
      from: {
        layers: 'data_types',
        year: 'target_year',
        fallback_years: 'fallback_years',
        source: 'data_types',
      },
      unmapped: [{ key: 'formats', why: expect.stringContaining('GeoJSON') }],
    });
  });
});
