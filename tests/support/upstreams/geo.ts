import { gzipSync } from 'node:zlib';
import { json, startServer, type TestServer } from '../http';
import { Faults, writeChunked } from './faults';

/**
 * A loopback geo.api.gouv.fr ("API Découpage administratif") and Etalab "contours administratifs"
 * static files. Format facts and their sources:
 * - `GET /departements?fields=code`, `GET /communes?codeDepartement=&fields=&format=geojson&geometry=contour`
 *   and `GET /departements/{code}/communes` (`datagouv/geo.api.gouv.fr` components/communes/doc.js;
 *   `datagouv/api-geo` definition.yml). With `format=geojson` the fields become Feature properties and
 *   the contour the geometry [S].
 * - `type=commune-actuelle,arrondissement-municipal` adds the municipal arrondissements of Paris (75101…),
 *   Lyon (69381…) and Marseille (13201…); the default is `commune-actuelle` only (`datagouv/api-geo`
 *   definition.yml; upstreams.md §3). `/departements/{code}/communes` takes no `type` (public clients
 *   fetch arrondissements from `/communes` for that reason) [S].
 * - `surface` is in hectares (`datagouv/api-geo` definition.yml, corrected 2026-11-29).
 * - `GET /infos` answering the data package version: UNCONFIRMED. api-geo's generate-infos.js writes
 *   `api_infos.json` with `git_hash_api_geo`, the API's version and `@etalab/decoupage-administratif`'s;
 *   the collector's `version_path` and `version_fields` options make this configurable.
 * - Static files `/contours-administratifs/<YEAR|latest>/geojson/<layer>-<res>.geojson.gz`
 *   (`datagouv/contours-administratifs` README; public clients), gzipped GeoJSON; an unpublished year
 *   answers 404 [I].
 */

export interface GeoUpstream {
  url: string;
  server: TestServer;
  faults: Faults;
  /** The `@etalab/decoupage-administratif` version `/infos` reports. */
  setVersion(version: string | null): void;
  /** Publishes the static files of a year (all layers and resolutions). */
  publishYear(year: number): void;
  staticFile(year: string, file: string): Buffer | null;
  close(): Promise<void>;
}

/** Communes per département in this fake (the real API has tens to hundreds). */
const COMMUNES_PER_DEPARTEMENT = 4;

/** The communes with municipal arrondissements, and how many (Paris 20, Lyon 9, Marseille 16). */
const PLM: Readonly<Record<string, { commune: string; first: number; count: number }>> = {
  '75': { commune: '75056', first: 75101, count: 20 },
  '69': { commune: '69123', first: 69381, count: 9 },
  '13': { commune: '13055', first: 13201, count: 16 },
};

interface Commune {
  code: string;
  nom: string;
  type: 'commune-actuelle' | 'arrondissement-municipal';
  codeDepartement: string;
  population: number;
  surface: number;
  x: number;
}

function communesOf(dep: string): Commune[] {
  const base = Array.from({ length: COMMUNES_PER_DEPARTEMENT }, (_, i): Commune => ({
    code: i === 0 && PLM[dep] ? PLM[dep].commune : `${dep}${String(101 + i).padStart(3, '0')}`,
    nom: `Commune ${i + 1}`,
    type: 'commune-actuelle',
    codeDepartement: dep,
    population: 1000 * (i + 1),
    surface: 100 * (i + 1),
    x: 2.3 + i * 0.01,
  }));
  const plm = PLM[dep];
  const arrondissements = plm
    ? Array.from({ length: plm.count }, (_, i): Commune => ({
        code: String(plm.first + i),
        nom: `Arrondissement ${i + 1}`,
        type: 'arrondissement-municipal',
        codeDepartement: dep,
        population: 500 * (i + 1),
        surface: 20 * (i + 1),
        x: 2.3 + i * 0.001,
      }))
    : [];
  return [...base, ...arrondissements];
}

function feature(c: Commune, fields: string[], contour: boolean): unknown {
  const all: Record<string, unknown> = { ...c, codeRegion: '11' };
  return {
    type: 'Feature',
    properties: Object.fromEntries(fields.filter((f) => f in all && f !== 'x').map((f) => [f, all[f]])),
    geometry: contour
      ? {
          type: 'Polygon',
          coordinates: [
            [
              [c.x, 48.8],
              [c.x + 0.01, 48.8],
              [c.x + 0.01, 48.81],
              [c.x, 48.81],
              [c.x, 48.8],
            ],
          ],
        }
      : { type: 'Point', coordinates: [c.x, 48.8] },
  };
}

export async function startGeoUpstream(
  departements: string[] = ['75', '92', '93', '94'],
  options: { staticYears?: number[]; version?: string | null } = {},
): Promise<GeoUpstream> {
  const faults = new Faults();
  let version: string | null = options.version === undefined ? '5.2.0' : options.version;
  const staticYears = new Set(options.staticYears ?? [2023, 2024]);
  const staticFile = (year: string, file: string): Buffer | null => {
    const y = year === 'latest' ? Math.max(...staticYears) : Number(year);
    if (!staticYears.has(y)) return null;
    const m = /^([a-z-]+)-(1000m|100m|50m|5m)\.geojson\.gz$/.exec(file);
    if (!m) return null;
    const features = departements.map((code) => ({
      type: 'Feature',
      properties: { code, layer: m[1], year: y },
      geometry: null,
    }));
    return gzipSync(JSON.stringify({ type: 'FeatureCollection', features }));
  };

  const server = await startServer(async (req, res) => {
    const injected = await faults.apply(req, res);
    if (injected === true) return;
    const url = new URL(req.url ?? '/', 'http://loopback');
    const staticPath = /^\/contours-administratifs\/(\d{4}|latest)\/geojson\/([^/]+)$/.exec(url.pathname);
    if (staticPath) {
      const body = staticFile(staticPath[1]!, staticPath[2]!);
      if (!body) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length });
      await writeChunked(
        res,
        body,
        typeof injected === 'object' ? { truncateAfter: injected.truncateAfter } : {},
      );
      return;
    }
    if (url.pathname === '/infos') {
      if (version === null) return json(res, 404, { code: 404, message: 'Not Found' });
      return json(res, 200, {
        git_hash_api_geo: 'abc123',
        'api-geo': '2.4.0',
        '@etalab/decoupage-administratif': version,
      });
    }
    if (url.pathname === '/departements') {
      return json(
        res,
        200,
        departements.map((code) => ({ code, nom: `Département ${code}`, codeRegion: '11' })),
      );
    }
    const fields = (url.searchParams.get('fields') ?? 'code,nom').split(',');
    const contour = url.searchParams.get('geometry') === 'contour';
    const byDepartement = /^\/departements\/([^/]+)\/communes$/.exec(url.pathname);
    const dep = byDepartement
      ? byDepartement[1]!
      : url.pathname === '/communes'
        ? url.searchParams.get('codeDepartement')
        : null;
    if (!dep || !departements.includes(dep))
      return json(res, 404, { code: 404, message: 'Département non trouvé' });
    const types = byDepartement
      ? ['commune-actuelle']
      : (url.searchParams.get('type') ?? 'commune-actuelle').split(',');
    const features = communesOf(dep)
      .filter((c) => types.includes(c.type))
      .map((c) => feature(c, fields, contour));
    if (url.searchParams.get('format') === 'geojson')
      return json(res, 200, { type: 'FeatureCollection', features });
    return json(
      res,
      200,
      features.map((f) => (f as { properties: unknown }).properties),
    );
  });
  return {
    url: server.url,
    server,
    faults,
    setVersion: (v) => {
      version = v;
    },
    publishYear: (year) => void staticYears.add(year),
    staticFile,
    close: () => server.close(),
  };
}
