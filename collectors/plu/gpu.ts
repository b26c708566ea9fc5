import { PermanentError } from '../../src/runtime/errors';
import { requestUpstream, type UpstreamDeps } from '../../src/runtime/upstream';
import { redactUrl } from '../../src/util/url';

/**
 * The Géoportail de l'Urbanisme through IGN API Carto (`/api/gpu/`): every endpoint answers a GeoJSON
 * FeatureCollection, capped at 1000 features, with no offset to page on (IGNF/apicarto#72).
 */

/** API Carto forces `_limit=1000`: a response this long may have been cut. */
export const FEATURE_CAP = 1000;

export interface Feature {
  type: 'Feature';
  geometry: { type: string; coordinates?: unknown; geometries?: unknown } | null;
  properties: Record<string, unknown> | null;
}

export interface FeatureCollection {
  type: 'FeatureCollection';
  features: Feature[];
}

export interface GpuResponse {
  collection: FeatureCollection;
  /** The body as the API sent it: what is stored. */
  body: Buffer;
}

export type GpuResource = 'document' | 'zone-urba';

export class GpuClient {
  constructor(
    private readonly deps: UpstreamDeps,
    private readonly base: string,
  ) {}

  /** `document` or `zone-urba` of one partition (`DU_<insee>`). */
  byPartition(resource: GpuResource, partition: string): Promise<GpuResponse> {
    return this.request(`${this.base}/${resource}?partition=${encodeURIComponent(partition)}`);
  }

  /**
   * Features intersecting a geometry. POSTed as JSON: a commune outline sent as a GET query string runs
   * into 414 URI Too Long (happign#29).
   */
  byGeometry(resource: GpuResource, geometry: NonNullable<Feature['geometry']>): Promise<GpuResponse> {
    return this.request(`${this.base}/${resource}`, JSON.stringify({ geom: geometry }));
  }

  /** The commune's feature (outline, `is_rnu`), or null when API Carto does not know the code. */
  async municipality(insee: string): Promise<Feature | null> {
    const { collection } = await this.request(`${this.base}/municipality?insee=${encodeURIComponent(insee)}`);
    return collection.features[0] ?? null;
  }

  private async request(url: string, body?: string): Promise<GpuResponse> {
    const response = await requestUpstream(this.deps, {
      url,
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        accept: 'application/geo+json, application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
    });
    return { collection: parseFeatureCollection(response.body, url), body: response.body };
  }
}

function parseFeatureCollection(body: Buffer, url: string): FeatureCollection {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PermanentError(`${redactUrl(url)} did not answer JSON`, {}, 'UPSTREAM_INVALID');
  }
  const fc = parsed as Partial<FeatureCollection> | null;
  if (fc?.type !== 'FeatureCollection' || !Array.isArray(fc.features)) {
    throw new PermanentError(
      `${redactUrl(url)} answered JSON that is not a GeoJSON FeatureCollection`,
      {},
      'UPSTREAM_INVALID',
    );
  }
  return fc as FeatureCollection;
}

/** The fields that change when a document is approved, revised or republished on the GPU. */
const VERSION_FIELDS = ['gpu_doc_id', 'partition', 'datappro', 'datvalid', 'gpu_timestamp'] as const;

export type DocumentVersion = Partial<Record<(typeof VERSION_FIELDS)[number], string>>;

/** The versions of the documents in a `document` response, in a stable order. */
export function documentVersions(collection: FeatureCollection): DocumentVersion[] {
  const versions = collection.features.map((f) => {
    const version: DocumentVersion = {};
    for (const field of VERSION_FIELDS) {
      const value = f.properties?.[field];
      if (value !== undefined && value !== null) version[field] = String(value);
    }
    return version;
  });
  const text = (v: DocumentVersion) => JSON.stringify(VERSION_FIELDS.map((f) => v[f] ?? null));
  return versions.sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
}
