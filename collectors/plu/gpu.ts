import { UpstreamHttpError } from '../../src/runtime/errors';
import { parseFeatureCollection } from '../geojson';
import { requestUpstream, type UpstreamDeps } from '../../src/runtime/upstream';
import { redactUrl } from '../../src/util/url';
import type { Geometry } from './geometry';

/**
 * The Géoportail de l'Urbanisme through IGN API Carto (`/api/gpu/`, `IGNF/apicarto` doc/gpu.yml): every
 * endpoint takes GET or POST and answers a GeoJSON FeatureCollection, capped, with no offset to page on
 * (IGNF/apicarto#72).
 */

export interface Feature {
  type: 'Feature';
  id?: string | number;
  geometry: Geometry | null;
  properties: Record<string, unknown> | null;
}

export interface FeatureCollection {
  type: 'FeatureCollection';
  features: Feature[];
  /** WFS GeoJSON counts (GeoServer): how many matched, when the server says. */
  totalFeatures?: number;
  numberMatched?: number;
  numberReturned?: number;
}

export interface GpuResponse {
  collection: FeatureCollection;
  /** The body as the API sent it: what is stored when it is used as is. */
  body: Buffer;
  /** The answer reached the cap, or says more matched than it returned: it may be cut. */
  capped: boolean;
}

/** `zone-urba` for PLU/POS/PSMV documents, `secteur-cc` for a carte communale (`IGNF/apicarto` doc/gpu.yml). */
export type GpuResource = 'document' | 'zone-urba' | 'secteur-cc';

/** API Carto refused a geometry for its size: 413 on a POST body, 414 on a GET URL. Split or simplify. */
export class GeometryTooLarge extends Error {
  constructor(
    readonly status: number,
    url: string,
  ) {
    super(`${redactUrl(url)} answered ${status}: the geometry is too large for one request`);
    this.name = 'GeometryTooLarge';
  }
}

export class GpuClient {
  /** Requests sent (answers, retries excluded). */
  requests = 0;

  constructor(
    private readonly deps: UpstreamDeps,
    private readonly base: string,
    private readonly cap: number,
  ) {}

  /** A resource of one partition (`DU_<insee>`, `DU_<siren>`). */
  byPartition(resource: GpuResource, partition: string): Promise<GpuResponse> {
    return this.request(`${this.base}/${resource}?partition=${encodeURIComponent(partition)}`);
  }

  /**
   * Features intersecting a geometry, POSTed as JSON (a GET query string runs into 414, happign#29). A
   * body over API Carto's limit answers 413: thrown as GeometryTooLarge for the caller to split.
   */
  byGeometry(resource: GpuResource, geometry: Geometry): Promise<GpuResponse> {
    return this.request(`${this.base}/${resource}`, JSON.stringify({ geom: geometry }));
  }

  /** The commune's feature (outline, `is_rnu`), or null when API Carto does not know the code. */
  async municipality(insee: string): Promise<Feature | null> {
    const { collection } = await this.request(`${this.base}/municipality?insee=${encodeURIComponent(insee)}`);
    return collection.features[0] ?? null;
  }

  private async request(url: string, body?: string): Promise<GpuResponse> {
    let response;
    try {
      response = await requestUpstream(this.deps, {
        url,
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          accept: 'application/geo+json, application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body }),
      });
    } catch (error) {
      if (error instanceof UpstreamHttpError && (error.status === 413 || error.status === 414))
        throw new GeometryTooLarge(error.status, url);
      throw error;
    } finally {
      this.requests++;
    }
    const collection = parseFeatureCollection<FeatureCollection>(response.body, url);
    const matched = collection.numberMatched ?? collection.totalFeatures;
    const capped =
      collection.features.length >= this.cap ||
      (typeof matched === 'number' && matched > collection.features.length);
    return { collection, body: response.body, capped };
  }
}

/**
 * The fields of a `document` feature that change when a plan is approved, revised or republished:
 * `gpu_doc_id`, `partition`, `du_type`, `gpu_status` are on document features (upstreams.md §4 [S]);
 * `gpu_timestamp`, `datappro`, `datvalid` are taken too when a document carries them.
 */
const VERSION_FIELDS = [
  'gpu_doc_id',
  'partition',
  'du_type',
  'gpu_status',
  'gpu_timestamp',
  'datappro',
  'datvalid',
] as const;

export type DocumentVersion = Partial<Record<(typeof VERSION_FIELDS)[number], string>>;

/** The versions of the documents in a `document` response, in a stable order. */
export function documentVersions(features: readonly Feature[]): DocumentVersion[] {
  const versions = features.map((f) => {
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
