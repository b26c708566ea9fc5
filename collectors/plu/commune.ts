import type { CollectorContext } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import { compactTime } from '../../src/runtime/output';
import { putJson, readJson } from '../../src/store/types';
import { featuresInArea, withinCommune } from './area';
import { contains, representativePoint, type Geometry } from './geometry';
import {
  documentVersions,
  type DocumentVersion,
  type Feature,
  type GpuClient,
  type GpuResource,
} from './gpu';
import type { PluOptions } from './options';

/** What became of one commune in a run. */
export type CommuneOutcome =
  | {
      kind: 'written';
      zones: number;
      resource: GpuResource;
      keys: string[];
      /** How the zones were found: the commune's own partition, or its outline (fallback). */
      via: 'partition' | 'geometry';
      fallbackReason?: string;
      truncated: boolean;
    }
  | { kind: 'unchanged' }
  | { kind: 'no_document'; rnu: boolean };

/** The watermark of one commune: the document versions its stored zoning came from. */
export interface CommuneMark {
  documents: DocumentVersion[];
  via: 'partition' | 'geometry';
  resource?: GpuResource;
  keys: string[];
  zones: number;
  scheduledTime: string;
}

const markKey = (insee: string) => `communes/${insee}.json`;

/** Carte communale documents publish `secteur-cc`, not `zone-urba` (`IGNF/apicarto` doc/gpu.yml). */
function resourceFor(documents: readonly Feature[]): GpuResource {
  return documents.some((d) => String(d.properties?.['du_type'] ?? '').toUpperCase() === 'CC')
    ? 'secteur-cc'
    : 'zone-urba';
}

/** What one commune's sync works with: the client, the limits and its outline, fetched once if needed. */
class CommuneQuery {
  readonly partition: string;
  readonly limits: { maxBodyBytes: number; maxSplitDepth: number };
  private outline: Geometry | null | undefined;

  constructor(
    readonly ctx: CollectorContext<PluOptions>,
    readonly gpu: GpuClient,
    readonly insee: string,
  ) {
    this.partition = `DU_${insee}`;
    this.limits = { maxBodyBytes: ctx.options.max_body_bytes, maxSplitDepth: ctx.options.max_split_depth };
  }

  /** The commune's outline; RnuCommune when it has no local plan. */
  async area(): Promise<Geometry> {
    if (this.outline === undefined) {
      const feature = await this.gpu.municipality(this.insee);
      if (!feature?.geometry)
        throw new PermanentError(
          `API Carto knows no commune ${this.insee} (options.communes): check the INSEE code`,
        );
      this.outline = feature.properties?.['is_rnu'] === true ? null : feature.geometry;
    }
    if (this.outline === null) throw new RnuCommune();
    return this.outline;
  }
}

interface Zones {
  resource: GpuResource;
  features: Feature[];
  /** The answer's own bytes, when it is stored as sent. */
  body: Buffer | null;
  truncated: boolean;
  via: 'partition' | 'geometry';
  fallbackReason?: string;
}

/**
 * One commune: look up its documents (cheap), stop if their versions match the watermark, else fetch
 * its zones (`zone-urba`, or `secteur-cc` for a carte communale) and store both.
 */
export async function syncCommune(
  ctx: CollectorContext<PluOptions>,
  gpu: GpuClient,
  insee: string,
): Promise<CommuneOutcome> {
  const q = new CommuneQuery(ctx, gpu, insee);
  const found = await findDocuments(q).catch((error: unknown) => {
    if (error instanceof RnuCommune) return null;
    throw error;
  });
  if (!found) return { kind: 'no_document', rnu: true };
  const { documents, via } = found;
  const versions = documentVersions(documents);
  const previous = (await readJson<CommuneMark>(ctx.state, markKey(insee)))?.value ?? null;
  if (versions.length === 0) {
    await putJson(ctx.state, markKey(insee), mark(ctx, versions, via, null, [], 0));
    return { kind: 'no_document', rnu: false };
  }
  if (previous && JSON.stringify(previous.documents) === JSON.stringify(versions))
    return { kind: 'unchanged' };

  const zones = await findZones(q, documents, via, found.fallbackReason);
  const folder = `${insee}/${compactTime(ctx.scheduledTime)}`;
  const zonesKey = `${folder}/${zones.resource}.geojson`;
  await ctx.output.write(zonesKey, zones.body ?? collectionText(zones.features), {
    contentType: 'application/geo+json',
    records: zones.features.length,
  });
  // The documents carry the plan's type, dates and links; small, and what the zones are versions of.
  await ctx.output.write(`${folder}/document.geojson`, collectionText(documents), {
    contentType: 'application/geo+json',
  });
  const keys = [zonesKey, `${folder}/document.geojson`];
  await putJson(
    ctx.state,
    markKey(insee),
    mark(ctx, versions, zones.via, zones.resource, keys, zones.features.length),
  );
  return {
    kind: 'written',
    zones: zones.features.length,
    resource: zones.resource,
    keys,
    via: zones.via,
    ...(zones.fallbackReason ? { fallbackReason: zones.fallbackReason } : {}),
    truncated: zones.truncated,
  };
}

/**
 * The commune's documents: by its `DU_<insee>` partition, else (covered by a PLUi) those its outline
 * meets that cover it, not the neighbours' documents the outline merely touches.
 */
async function findDocuments(
  q: CommuneQuery,
): Promise<{ documents: Feature[]; via: 'partition' | 'geometry'; fallbackReason?: string }> {
  const documents = (await q.gpu.byPartition('document', q.partition)).collection.features;
  if (documents.length > 0) return { documents, via: 'partition' };
  const area = await q.area();
  const point = representativePoint(area);
  const found = await featuresInArea(q.gpu, 'document', area, q.limits, q.ctx.log);
  return {
    documents: found.features.filter((d) => !point || !d.geometry || contains(d.geometry, point)),
    via: 'geometry',
    fallbackReason: `no document in partition ${q.partition} (e.g. an intercommunal PLUi): queried by the commune's outline`,
  };
}

/**
 * The zones: by partition when the documents came so (`secteur-cc` too when `zone-urba` is empty), else
 * (or when the partition answers nothing, IGNF/apicarto#61, or reaches the cap) by the commune's
 * outline, keeping only what lies inside the commune.
 */
async function findZones(
  q: CommuneQuery,
  documents: Feature[],
  via: 'partition' | 'geometry',
  fallbackReason: string | undefined,
): Promise<Zones> {
  let resource = resourceFor(documents);
  if (via === 'partition') {
    let answer = await q.gpu.byPartition(resource, q.partition);
    if (answer.collection.features.length === 0 && resource === 'zone-urba') {
      // A document whose type is missing or wrong may still be a carte communale.
      const sectors = await q.gpu.byPartition('secteur-cc', q.partition);
      if (sectors.collection.features.length > 0) {
        resource = 'secteur-cc';
        answer = sectors;
      }
    }
    const features = answer.collection.features;
    if (features.length > 0 && !answer.capped)
      return { resource, features, body: answer.body, truncated: false, via: 'partition' };
    fallbackReason = answer.capped
      ? `${resource} of ${q.partition} reached API Carto's cap: queried by the commune's outline, in tiles`
      : `${resource} of ${q.partition} answered an empty FeatureCollection although the partition has a document (IGNF/apicarto#61): queried by the commune's outline`;
  }
  const area = await q.area().catch((error: unknown) => {
    if (error instanceof RnuCommune)
      throw new PermanentError(`commune ${q.insee} has documents but API Carto marks it RNU`);
    throw error;
  });
  const found = await featuresInArea(q.gpu, resource, area, q.limits, q.ctx.log);
  return {
    resource,
    features: withinCommune(found.features, q.insee, area),
    body: null,
    truncated: found.truncated,
    via: 'geometry',
    ...(fallbackReason ? { fallbackReason } : {}),
  };
}

class RnuCommune extends Error {}

function collectionText(features: readonly Feature[]): string {
  return JSON.stringify({ type: 'FeatureCollection', features });
}

function mark(
  ctx: CollectorContext<PluOptions>,
  documents: DocumentVersion[],
  via: 'partition' | 'geometry',
  resource: GpuResource | null,
  keys: string[],
  zones: number,
): CommuneMark {
  return {
    documents,
    via,
    ...(resource ? { resource } : {}),
    keys,
    zones,
    scheduledTime: ctx.scheduledTime.toISOString(),
  };
}
