import { json, startServer, type TestServer } from '../http';
import { Faults } from './faults';

/**
 * A loopback IGN API Carto, GPU module (upstreams.md §4), under `/api/gpu/`: `municipality?insee=`,
 * `document` and `zone-urba`, by `partition` (GET) or by `geom` (GET or POST, GeoJSON in EPSG:4326),
 * each answering a FeatureCollection capped at 1000 features. Communes are unit squares on a grid, so
 * "intersects" is a bounding-box test.
 */

export interface GpuDocument {
  gpu_doc_id: string;
  partition: string;
  du_type: 'PLU' | 'PLUi' | 'POS' | 'CC' | 'PSMV';
  datappro: string;
  datvalid: string;
}

export interface GpuCommune {
  insee: string;
  name: string;
  isRnu?: boolean;
  /** Its plan; a PLUi document is shared by several communes (partition `DU_<siren>`). */
  document?: GpuDocument;
  /** Zones of its plan inside this commune. */
  zones?: number;
  /** IGNF/apicarto#61: `zone-urba?partition=` answers empty although the zoning exists. */
  emptyPartition?: boolean;
}

export interface PluUpstream {
  url: string;
  baseUrl: string;
  server: TestServer;
  faults: Faults;
  /** Method and path (with query) of every request. */
  calls(): string[];
  update(insee: string, change: Partial<GpuCommune>): void;
  close(): Promise<void>;
}

interface Square {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

const CAP = 1000;

export async function startPluUpstream(communes: GpuCommune[]): Promise<PluUpstream> {
  const byInsee = new Map(communes.map((c, i) => [c.insee, { ...c, cell: i }]));
  const faults = new Faults();
  const square = (cell: number): Square => {
    const x = 2 + (cell % 10) * 0.1;
    const y = 48 + Math.floor(cell / 10) * 0.1;
    return { minX: x, minY: y, maxX: x + 0.09, maxY: y + 0.09 };
  };
  const outline = (s: Square) => ({
    type: 'MultiPolygon',
    coordinates: [
      [
        [
          [s.minX, s.minY],
          [s.maxX, s.minY],
          [s.maxX, s.maxY],
          [s.minX, s.maxY],
          [s.minX, s.minY],
        ],
      ],
    ],
  });
  const collection = (features: unknown[]) => ({
    type: 'FeatureCollection',
    features: features.slice(0, CAP),
    totalFeatures: features.length,
    numberReturned: Math.min(features.length, CAP),
  });
  const docFeature = (c: GpuCommune & { cell: number }) => ({
    type: 'Feature',
    id: `document.${c.document!.gpu_doc_id}`,
    geometry: outline(square(c.cell)),
    properties: {
      ...c.document,
      idurba: `${c.insee}_${c.document!.du_type}_${c.document!.datappro}`,
      grid_title: c.name,
    },
  });
  const zoneFeatures = (c: GpuCommune & { cell: number }) => {
    const s = square(c.cell);
    return Array.from({ length: c.zones ?? 0 }, (_, i) => ({
      type: 'Feature',
      id: `zone_urba.${c.insee}${i}`,
      geometry: outline({
        minX: s.minX + 0.0001 * (i % 80),
        minY: s.minY,
        maxX: s.minX + 0.0001 * ((i % 80) + 1),
        maxY: s.maxY,
      }),
      properties: {
        gid: i + 1,
        partition: c.document!.partition,
        idurba: `${c.insee}_${c.document!.du_type}_${c.document!.datappro}`,
        libelle: ['UA', 'UB', 'AU', 'A', 'N'][i % 5],
        libelong: 'Zone de test',
        typezone: ['U', 'U', 'AUc', 'A', 'N'][i % 5],
        destdomi: '01',
        nomfic: `${c.insee}_reglement.pdf`,
        urlfic: `https://www.geoportail-urbanisme.gouv.fr/document/by-id/${c.document!.gpu_doc_id}`,
        datappro: c.document!.datappro.replaceAll('-', ''),
        datvalid: c.document!.datvalid.replaceAll('-', ''),
        gpu_doc_id: c.document!.gpu_doc_id,
        insee: c.insee,
      },
    }));
  };
  const withDocument = () => [...byInsee.values()].filter((c) => c.document && !c.isRnu);
  const intersecting = (geom: Square) =>
    withDocument().filter((c) => {
      const s = square(c.cell);
      return s.minX < geom.maxX && geom.minX < s.maxX && s.minY < geom.maxY && geom.minY < s.maxY;
    });

  const server = await startServer(async (req, res, body) => {
    if ((await faults.apply(req, res)) !== false) return;
    const url = new URL(req.url ?? '/', 'http://loopback');
    const resource = url.pathname.replace(/^\/api\/gpu\//, '');
    let geomParam: unknown = url.searchParams.get('geom') ?? undefined;
    if (req.method === 'POST') {
      try {
        geomParam = (JSON.parse(body.toString('utf8')) as { geom?: unknown }).geom;
      } catch {
        json(res, 400, { code: 400, message: 'body is not JSON' });
        return;
      }
    }
    if (typeof geomParam === 'string') geomParam = JSON.parse(geomParam) as unknown;
    const geom = geomParam === undefined ? null : bbox(geomParam);
    if (geomParam !== undefined && !geom) {
      json(res, 400, {
        code: 400,
        message: { geom: 'Le paramètre geom n’est pas une géométrie GeoJSON valide' },
      });
      return;
    }
    const partition = url.searchParams.get('partition');

    if (resource === 'municipality') {
      const insee = url.searchParams.get('insee');
      const c = insee ? byInsee.get(insee) : undefined;
      json(
        res,
        200,
        collection(
          c
            ? [
                {
                  type: 'Feature',
                  id: `municipality.${c.insee}`,
                  geometry: outline(square(c.cell)),
                  properties: { insee: c.insee, name: c.name, is_rnu: c.isRnu === true, is_deleted: false },
                },
              ]
            : [],
        ),
      );
      return;
    }
    if (resource !== 'document' && resource !== 'zone-urba') {
      json(res, 404, { code: 404, message: `unknown resource ${resource}` });
      return;
    }
    if (!partition && !geom) {
      json(res, 400, { code: 400, message: 'geom or partition is required' });
      return;
    }
    const matching = partition
      ? withDocument().filter((c) => c.document!.partition === partition)
      : intersecting(geom!);
    if (resource === 'document') {
      const seen = new Set<string>();
      const docs = matching.filter(
        (c) => !seen.has(c.document!.gpu_doc_id) && seen.add(c.document!.gpu_doc_id),
      );
      json(res, 200, collection(docs.map(docFeature)));
      return;
    }
    const zones = matching.flatMap((c) => (partition && c.emptyPartition ? [] : zoneFeatures(c)));
    json(res, 200, collection(zones));
  });

  return {
    url: server.url,
    baseUrl: `${server.url}/api/gpu`,
    server,
    faults,
    calls: () => server.requests.map((r) => `${r.method} ${r.path}`),
    update: (insee, change) => {
      const c = byInsee.get(insee);
      if (c) byInsee.set(insee, { ...c, ...change });
    },
    close: () => server.close(),
  };
}

/** The bounding box of a GeoJSON geometry, or null when it is not one. */
function bbox(geom: unknown): Square | null {
  const points: number[][] = [];
  const walk = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number' && typeof c[1] === 'number') points.push(c as number[]);
    else if (Array.isArray(c)) c.forEach(walk);
  };
  const g = geom as { type?: unknown; coordinates?: unknown } | null;
  if (!g || typeof g.type !== 'string') return null;
  walk(g.coordinates);
  if (points.length === 0) return null;
  const xs = points.map((p) => p[0] as number);
  const ys = points.map((p) => p[1] as number);
  return { minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) };
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
      datvalid: datappro,
    },
  };
}
