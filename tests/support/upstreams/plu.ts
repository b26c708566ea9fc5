import { json, startServer, type TestServer } from '../http';
import { Faults } from './faults';

/**
 * A loopback IGN API Carto, GPU module, under `/api/gpu/`. Format facts and their sources:
 * - `municipality?insee=`, `document`, `zone-urba`, `secteur-cc`, by `partition` or `geom` (GeoJSON,
 *   EPSG:4326), GET or POST, each answering a GeoJSON FeatureCollection (`IGNF/apicarto` doc/gpu.yml and
 *   controllers/gpu/index.js: `secteur-cc` → `wfs_du:secteur_cc`).
 * - At most `cap` features per answer (`_limit`, 5000 per upstreams.md §4; one stored copy of the
 *   controller has 1000), no offset (IGNF/apicarto#72); `totalFeatures` / `numberReturned` as GeoServer's
 *   WFS GeoJSON output writes them [S].
 * - A JSON POST body over 100 kB answers 413 (`IGNF/apicarto` app.js uses `bodyParser.json()`, whose
 *   default limit is 100kb; body-parser answers 413 "request entity too large"); a GET URL over 8 kB
 *   answers 414 (happign#29; the 8 kB is Node's and most proxies' header limit) [C/I].
 * - A carte communale (`du_type: CC`) publishes `secteur-cc`; its `zone-urba` is empty (doc/gpu.yml).
 * - `document` properties `gid, grid_title, name, gpu_doc_id, partition, du_type, gpu_status` — no
 *   `datappro`/`datvalid`, which are on `zone-urba` features; zone-urba properties `gid, partition,
 *   idurba, libelle, libelong, typezone, destdomi, nomfic, urlfic, datappro, datvalid, gpu_doc_id`, without
 *   `insee` (upstreams.md §4 [S]).
 * - IGNF/apicarto#61: some partitions answer an empty `zone-urba` though zoning exists (`emptyPartition`).
 * Communes are squares on a grid that touch their neighbours; "intersects" is a bounding-box test.
 */

export interface GpuDocument {
  gpu_doc_id: string;
  partition: string;
  du_type: 'PLU' | 'PLUi' | 'POS' | 'CC' | 'PSMV';
  /** Approval date: on the zones (datappro), not on the document feature. */
  datappro: string;
  gpu_status?: string;
}

export interface GpuCommune {
  insee: string;
  name: string;
  isRnu?: boolean;
  /** Its plan; a PLUi document is shared by several communes (partition `DU_<siren>`). */
  document?: GpuDocument;
  /** Zones of its plan inside this commune (secteurs for a CC). */
  zones?: number;
  /** Zones that straddle its east border (their centre stays inside the commune). */
  borderZones?: number;
  /** IGNF/apicarto#61: `zone-urba?partition=` answers empty although the zoning exists. */
  emptyPartition?: boolean;
  /** Vertices per edge of its outline: thousands make an outline over 100 kB of JSON. */
  outlineDetail?: number;
  /** Which layer its zoning is in, when its document's type says otherwise (default: by du_type). */
  publishes?: 'zone-urba' | 'secteur-cc';
}

export interface PluUpstreamOptions {
  cap?: number;
  maxBodyBytes?: number;
}

export interface PluUpstream {
  url: string;
  baseUrl: string;
  server: TestServer;
  faults: Faults;
  /** Method and path (with query) of every request. */
  calls(): string[];
  /** The status of every answer, in order. */
  statuses: number[];
  update(insee: string, change: Partial<GpuCommune>): void;
  outline(insee: string): unknown;
  close(): Promise<void>;
}

interface Square {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

const SIZE = 0.1;
const BODY_LIMIT = 100 * 1024;
const URL_LIMIT = 8 * 1024;

export async function startPluUpstream(
  communes: GpuCommune[],
  options: PluUpstreamOptions = {},
): Promise<PluUpstream> {
  const cap = options.cap ?? 5000;
  const byInsee = new Map(communes.map((c, i) => [c.insee, { ...c, cell: i }]));
  const faults = new Faults();
  const statuses: number[] = [];
  const square = (cell: number): Square => {
    const x = 2 + (cell % 10) * SIZE;
    const y = 48 + Math.floor(cell / 10) * SIZE;
    return { minX: x, minY: y, maxX: x + SIZE, maxY: y + SIZE };
  };
  const ring = (s: Square, detail = 1) => {
    const points: number[][] = [];
    const edge = (x0: number, y0: number, x1: number, y1: number) => {
      for (let i = 0; i < detail; i++)
        points.push([x0 + ((x1 - x0) * i) / detail, y0 + ((y1 - y0) * i) / detail]);
    };
    edge(s.minX, s.minY, s.maxX, s.minY);
    edge(s.maxX, s.minY, s.maxX, s.maxY);
    edge(s.maxX, s.maxY, s.minX, s.maxY);
    edge(s.minX, s.maxY, s.minX, s.minY);
    points.push([s.minX, s.minY]);
    return points;
  };
  const polygon = (s: Square, detail = 1) => ({ type: 'MultiPolygon', coordinates: [[ring(s, detail)]] });
  const outlineOf = (c: GpuCommune & { cell: number }) => polygon(square(c.cell), c.outlineDetail ?? 1);
  const collection = (features: unknown[]) => ({
    type: 'FeatureCollection',
    features: features.slice(0, cap),
    totalFeatures: features.length,
    numberReturned: Math.min(features.length, cap),
  });
  const members = (partition: string) =>
    [...byInsee.values()].filter((c) => c.document?.partition === partition && !c.isRnu);
  const docFeature = (c: GpuCommune & { cell: number }) => {
    const cells = members(c.document!.partition).map((m) => square(m.cell));
    const box = {
      minX: Math.min(...cells.map((s) => s.minX)),
      minY: Math.min(...cells.map((s) => s.minY)),
      maxX: Math.max(...cells.map((s) => s.maxX)),
      maxY: Math.max(...cells.map((s) => s.maxY)),
    };
    return {
      type: 'Feature',
      id: `document.${c.document!.gpu_doc_id}`,
      geometry: polygon(box),
      properties: {
        gid: Number(c.insee.replace(/\D/g, '')),
        grid_title: c.name,
        name: `${c.document!.partition}_${c.document!.du_type}_${c.document!.datappro.replaceAll('-', '')}`,
        gpu_doc_id: c.document!.gpu_doc_id,
        partition: c.document!.partition,
        du_type: c.document!.du_type,
        gpu_status: c.document!.gpu_status ?? 'document.production',
      },
    };
  };
  const zoneFeatures = (c: GpuCommune & { cell: number }, resource: 'zone-urba' | 'secteur-cc') => {
    const isCC =
      (c.publishes ?? (c.document!.du_type === 'CC' ? 'secteur-cc' : 'zone-urba')) === 'secteur-cc';
    if ((resource === 'secteur-cc') !== isCC) return [];
    const s = square(c.cell);
    const count = c.zones ?? 0;
    const side = Math.max(1, Math.ceil(Math.sqrt(count)));
    const step = (SIZE * 0.8) / side;
    const zone = (i: number, box: Square) => ({
      type: 'Feature',
      id: `${resource.replace('-', '_')}.${c.insee}${String(i).padStart(5, '0')}`,
      geometry: polygon(box),
      properties: isCC
        ? {
            gid: i + 1,
            partition: c.document!.partition,
            idurba: `${c.insee}_CC`,
            libelle: `ZC${i % 3}`,
            typesect: ['01', '02', '99'][i % 3],
            gpu_doc_id: c.document!.gpu_doc_id,
          }
        : {
            gid: i + 1,
            partition: c.document!.partition,
            idurba: `${c.insee}_${c.document!.du_type}_${c.document!.datappro.replaceAll('-', '')}`,
            libelle: ['UA', 'UB', 'AU', 'A', 'N'][i % 5],
            libelong: 'Zone de test',
            typezone: ['U', 'U', 'AUc', 'A', 'N'][i % 5],
            destdomi: '01',
            nomfic: `${c.insee}_reglement.pdf`,
            urlfic: `https://www.geoportail-urbanisme.gouv.fr/document/by-id/${c.document!.gpu_doc_id}`,
            datappro: c.document!.datappro.replaceAll('-', ''),
            datvalid: c.document!.datappro.replaceAll('-', ''),
            gpu_doc_id: c.document!.gpu_doc_id,
          },
    });
    const inside = Array.from({ length: count }, (_, i) => {
      const x = s.minX + 0.01 + (i % side) * step;
      const y = s.minY + 0.01 + Math.floor(i / side) * step;
      return zone(i, { minX: x, minY: y, maxX: x + step * 0.9, maxY: y + step * 0.9 });
    });
    // Straddling the east border, most of each inside: a query by the neighbour's outline catches them.
    const border = Array.from({ length: c.borderZones ?? 0 }, (_, i) =>
      zone(count + i, {
        minX: s.maxX - 0.015,
        minY: s.minY + 0.01 * (i + 1),
        maxX: s.maxX + 0.005,
        maxY: s.minY + 0.01 * (i + 1) + 0.005,
      }),
    );
    return [...inside, ...border];
  };
  const withDocument = () => [...byInsee.values()].filter((c) => c.document && !c.isRnu);

  const server = await startServer(async (req, res, body) => {
    const answer = (status: number, payload: unknown) => {
      statuses.push(status);
      json(res, status, payload);
    };
    if ((await faults.apply(req, res)) !== false) return void statuses.push(-1);
    if (req.method === 'POST' && body.length > (options.maxBodyBytes ?? BODY_LIMIT)) {
      statuses.push(413);
      res
        .writeHead(413, { 'content-type': 'text/html; charset=utf-8' })
        .end('<pre>PayloadTooLargeError: request entity too large</pre>');
      return;
    }
    if ((req.url ?? '').length > URL_LIMIT) {
      statuses.push(414);
      res.writeHead(414, { 'content-type': 'text/html' }).end('<h1>414 Request-URI Too Large</h1>');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://loopback');
    const resource = url.pathname.replace(/^\/api\/gpu\//, '');
    let geomParam: unknown = url.searchParams.get('geom') ?? undefined;
    if (req.method === 'POST') {
      try {
        geomParam = (JSON.parse(body.toString('utf8')) as { geom?: unknown }).geom;
      } catch {
        return answer(400, { code: 400, message: 'body is not JSON' });
      }
    }
    if (typeof geomParam === 'string') geomParam = JSON.parse(geomParam) as unknown;
    const geom = geomParam === undefined ? null : bbox(geomParam);
    if (geomParam !== undefined && !geom)
      return answer(400, {
        code: 400,
        message: { geom: 'Le paramètre geom n’est pas une géométrie GeoJSON valide' },
      });
    const partition = url.searchParams.get('partition');

    if (resource === 'municipality') {
      const c = byInsee.get(url.searchParams.get('insee') ?? '');
      return answer(
        200,
        collection(
          c
            ? [
                {
                  type: 'Feature',
                  id: `municipality.${c.insee}`,
                  geometry: outlineOf(c),
                  properties: { insee: c.insee, name: c.name, is_rnu: c.isRnu === true, is_deleted: false },
                },
              ]
            : [],
        ),
      );
    }
    if (!['document', 'zone-urba', 'secteur-cc'].includes(resource))
      return answer(404, { code: 404, message: `unknown resource ${resource}` });
    if (!partition && !geom) return answer(400, { code: 400, message: 'geom or partition is required' });
    if (resource === 'document') {
      const matching = partition
        ? withDocument().filter((c) => c.document!.partition === partition)
        : withDocument().filter((c) => intersects(bbox(docFeature(c).geometry)!, geom!));
      const seen = new Set<string>();
      const docs = matching.filter(
        (c) => !seen.has(c.document!.gpu_doc_id) && seen.add(c.document!.gpu_doc_id),
      );
      return answer(200, collection(docs.map(docFeature)));
    }
    const zones = partition
      ? withDocument()
          .filter((c) => c.document!.partition === partition && !c.emptyPartition)
          .flatMap((c) => zoneFeatures(c, resource as 'zone-urba'))
      : withDocument()
          .flatMap((c) => zoneFeatures(c, resource as 'zone-urba'))
          .filter((f) => intersects(bbox(f.geometry)!, geom!));
    return answer(200, collection(zones));
  });

  return {
    url: server.url,
    baseUrl: `${server.url}/api/gpu`,
    server,
    faults,
    statuses,
    calls: () => server.requests.map((r) => `${r.method} ${r.path}`),
    update: (insee, change) => {
      const c = byInsee.get(insee);
      if (c) byInsee.set(insee, { ...c, ...change });
    },
    outline: (insee) => outlineOf(byInsee.get(insee)!),
    close: () => server.close(),
  };
}

function intersects(a: Square, b: Square): boolean {
  return a.minX < b.maxX && b.minX < a.maxX && a.minY < b.maxY && b.minY < a.maxY;
}

/** The bounding box of a GeoJSON geometry, or null when it is not one. */
function bbox(geom: unknown): Square | null {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  const walk = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number' && typeof c[1] === 'number') {
      minX = Math.min(minX, c[0]);
      maxX = Math.max(maxX, c[0]);
      minY = Math.min(minY, c[1]);
      maxY = Math.max(maxY, c[1]);
    } else if (Array.isArray(c)) c.forEach(walk);
  };
  const g = geom as { type?: unknown; coordinates?: unknown } | null;
  if (!g || typeof g.type !== 'string') return null;
  walk(g.coordinates);
  return minX === Infinity ? null : { minX, minY, maxX, maxY };
}

/** A commune with its own PLU (`DU_<insee>`) and `zones` zones. */
export function communeWithPlu(insee: string, zones = 12, datappro = '2023-06-15'): GpuCommune {
  return {
    insee,
    name: `Commune ${insee}`,
    zones,
    document: {
      gpu_doc_id: `doc${insee}${datappro.replaceAll('-', '')}`,
      partition: `DU_${insee}`,
      du_type: 'PLU',
      datappro,
    },
  };
}

/** A commune under a carte communale: its `zone-urba` is empty, its `secteur-cc` has `sectors`. */
export function communeWithCarteCommunale(insee: string, sectors = 3): GpuCommune {
  return {
    insee,
    name: `Commune ${insee}`,
    zones: sectors,
    document: { gpu_doc_id: `cc${insee}`, partition: `DU_${insee}`, du_type: 'CC', datappro: '2019-03-01' },
  };
}

/** Communes sharing one PLUi (partition `DU_<siren>`), each with `zones` zones. */
export function communesOfPlui(siren: string, insees: string[], zones = 4): GpuCommune[] {
  return insees.map((insee) => ({
    insee,
    name: `Commune ${insee}`,
    zones,
    document: {
      gpu_doc_id: `plui${siren}`,
      partition: `DU_${siren}`,
      du_type: 'PLUi',
      datappro: '2022-01-10',
    },
  }));
}
