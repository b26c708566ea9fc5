import { json, startServer, type TestServer } from '../http';
import { Faults } from './faults';

/**
 * A loopback geo.api.gouv.fr ("API Découpage administratif", upstreams.md §3): `GET /departements`
 * and `GET /departements/{code}/communes?format=geojson&geometry=contour&fields=…`, answering a
 * FeatureCollection whose properties are the requested fields.
 */

export interface GeoUpstream {
  url: string;
  server: TestServer;
  faults: Faults;
  close(): Promise<void>;
}

/** Communes per département in this fake (the real API has tens to hundreds). */
const COMMUNES_PER_DEPARTEMENT = 4;

export async function startGeoUpstream(
  departements: string[] = ['75', '92', '93', '94'],
): Promise<GeoUpstream> {
  const faults = new Faults();
  const server = await startServer(async (req, res) => {
    if ((await faults.apply(req, res)) !== false) return;
    const url = new URL(req.url ?? '/', 'http://loopback');
    if (url.pathname === '/departements') {
      json(
        res,
        200,
        departements.map((code) => ({ code, nom: `Département ${code}`, codeRegion: '11' })),
      );
      return;
    }
    const match = /^\/departements\/([^/]+)\/communes$/.exec(url.pathname);
    if (!match || !departements.includes(match[1] as string)) {
      json(res, 404, { code: 404, message: 'Département non trouvé' });
      return;
    }
    const dep = match[1] as string;
    const fields = (url.searchParams.get('fields') ?? 'code,nom').split(',');
    const features = Array.from({ length: COMMUNES_PER_DEPARTEMENT }, (_, i) => {
      const all: Record<string, unknown> = {
        code: `${dep}${String(101 + i).padStart(3, '0')}`,
        nom: `Commune ${i + 1}`,
        codeDepartement: dep,
        codeRegion: '11',
        population: 1000 * (i + 1),
        surface: 100 * (i + 1),
      };
      const x = 2.3 + i * 0.01;
      return {
        type: 'Feature',
        properties: Object.fromEntries(fields.filter((f) => f in all).map((f) => [f, all[f]])),
        geometry:
          url.searchParams.get('geometry') === 'contour'
            ? {
                type: 'Polygon',
                coordinates: [
                  [
                    [x, 48.8],
                    [x + 0.01, 48.8],
                    [x + 0.01, 48.81],
                    [x, 48.81],
                    [x, 48.8],
                  ],
                ],
              }
            : { type: 'Point', coordinates: [x, 48.8] },
      };
    });
    if (url.searchParams.get('format') === 'geojson') json(res, 200, { type: 'FeatureCollection', features });
    else
      json(
        res,
        200,
        features.map((f) => f.properties),
      );
  });
  return { url: server.url, server, faults, close: () => server.close() };
}
