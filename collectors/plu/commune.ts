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

/**
 * One commune: look up its documents (cheap), stop if their versions match the watermark, else fetch
 * its zones (`zone-urba`, or `secteur-cc` for a carte communale) and store both. A commune without a
 * `DU_<insee>` document (covered by a PLUi), or whose partition answers no zone although it has a
 * document (IGNF/apicarto#61), is queried by its outline, keeping only what lies inside the commune.
 */
export async function syncCommune(
  ctx: CollectorContext<PluOptions>,
  gpu: GpuClient,
  insee: string,
): Promise<CommuneOutcome> {
  const partition = `DU_${insee}`;
  const limits = { maxBodyBytes: ctx.options.max_body_bytes, maxSplitDepth: ctx.options.max_split_depth };
  let outline: Geometry | null | undefined;
  const communeOutline = async (): Promise<Geometry> => {
    if (outline === undefined) {
      const feature = await gpu.municipality(insee);
      if (!feature?.geometry)
        throw new PermanentError(
          `API Carto knows no commune ${insee} (options.communes): check the INSEE code`,
        );
      if (feature.properties?.['is_rnu'] === true) outline = null;
      else outline = feature.geometry;
    }
    if (outline === null) throw new RnuCommune();
    return outline;
  };

  let via: 'partition' | 'geometry' = 'partition';
  let fallbackReason: string | undefined;
  let documents = (await gpu.byPartition('document', partition)).collection.features;
  try {
    if (documents.length === 0) {
      const area = await communeOutline();
      via = 'geometry';
      fallbackReason = `no document in partition ${partition} (e.g. an intercommunal PLUi): queried by the commune's outline`;
      const point = representativePoint(area);
      // The documents covering the commune, not the neighbours' its outline touches.
      documents = (await featuresInArea(gpu, 'document', area, limits, ctx.log)).features.filter(
        (d) => !point || !d.geometry || contains(d.geometry, point),
      );
    }
  } catch (error) {
    if (error instanceof RnuCommune) return { kind: 'no_document', rnu: true };
    throw error;
  }
  const versions = documentVersions(documents);
  const previous = (await readJson<CommuneMark>(ctx.state, markKey(insee)))?.value ?? null;
  if (versions.length === 0) {
    await putJson(ctx.state, markKey(insee), mark(ctx, versions, via, null, [], 0));
    return { kind: 'no_document', rnu: false };
  }
  if (previous && JSON.stringify(previous.documents) === JSON.stringify(versions))
    return { kind: 'unchanged' };

  let resource = resourceFor(documents);
  let zones: Feature[] = [];
  let body: Buffer | null = null;
  let truncated = false;
  if (via === 'partition') {
    const answer = await gpu.byPartition(resource, partition);
    zones = answer.collection.features;
    body = answer.body;
    truncated = answer.capped;
    if (zones.length === 0 && resource === 'zone-urba') {
      // A document whose type is missing or wrong may still be a carte communale.
      const sectors = await gpu.byPartition('secteur-cc', partition);
      if (sectors.collection.features.length > 0) {
        resource = 'secteur-cc';
        zones = sectors.collection.features;
        body = sectors.body;
        truncated = sectors.capped;
      }
    }
  }
  if (zones.length === 0 || (via === 'partition' && truncated)) {
    if (via === 'partition')
      fallbackReason = truncated
        ? `${resource} of ${partition} reached API Carto's cap: queried by the commune's outline, in tiles`
        : `${resource} of ${partition} answered an empty FeatureCollection although the partition has a document (IGNF/apicarto#61): queried by the commune's outline`;
    via = 'geometry';
    const area = await communeOutline().catch((error: unknown) => {
      if (error instanceof RnuCommune)
        throw new PermanentError(`commune ${insee} has documents but API Carto marks it RNU`);
      throw error;
    });
    const found = await featuresInArea(gpu, resource, area, limits, ctx.log);
    zones = withinCommune(found.features, insee, area);
    truncated = found.truncated;
    body = null;
  }

  const folder = `${insee}/${compactTime(ctx.scheduledTime)}`;
  const zonesKey = `${folder}/${resource}.geojson`;
  await ctx.output.write(zonesKey, body ?? collectionText(zones), {
    contentType: 'application/geo+json',
    records: zones.length,
  });
  // The documents carry the plan's type, dates and links; small, and what the zones are versions of.
  await ctx.output.write(`${folder}/document.geojson`, collectionText(documents), {
    contentType: 'application/geo+json',
  });
  const keys = [zonesKey, `${folder}/document.geojson`];
  await putJson(ctx.state, markKey(insee), mark(ctx, versions, via, resource, keys, zones.length));
  return {
    kind: 'written',
    zones: zones.length,
    resource,
    keys,
    via,
    ...(fallbackReason ? { fallbackReason } : {}),
    truncated,
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
