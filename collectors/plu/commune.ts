import type { CollectorContext } from '../../src/runtime/contract';
import { compactTime } from '../../src/runtime/output';
import { putJson, readJson } from '../../src/store/types';
import {
  documentVersions,
  FEATURE_CAP,
  type DocumentVersion,
  type Feature,
  type GpuClient,
  type GpuResponse,
} from './gpu';
import type { PluOptions } from './options';

/** What became of one commune in a run. */
export type CommuneOutcome =
  | {
      kind: 'written';
      zones: number;
      keys: string[];
      /** How the zones were found: the commune's own partition, or its outline (fallback). */
      via: 'partition' | 'geometry';
      fallbackReason?: string;
      truncated: boolean;
    }
  | { kind: 'unchanged' }
  | { kind: 'no_document'; rnu: boolean }
  | { kind: 'unknown_commune' };

/** The watermark of one commune: the document versions its stored zoning came from. */
export interface CommuneMark {
  documents: DocumentVersion[];
  via: 'partition' | 'geometry';
  keys: string[];
  zones: number;
  scheduledTime: string;
}

const markKey = (insee: string) => `communes/${insee}.json`;

/**
 * One commune: look up its documents (cheap), stop if their versions match the watermark, else fetch
 * its zoning and store both. A commune without a `DU_<insee>` partition (covered by a PLUi, or whose
 * partition answers empty, IGNF/apicarto#61) is queried by its outline instead.
 */
export async function syncCommune(
  ctx: CollectorContext<PluOptions>,
  gpu: GpuClient,
  insee: string,
): Promise<CommuneOutcome> {
  const partition = `DU_${insee}`;
  let via: 'partition' | 'geometry' = 'partition';
  let fallbackReason: string | undefined;
  let outline: Feature | null | undefined;
  const commune = async () => (outline === undefined ? (outline = await gpu.municipality(insee)) : outline);

  let documents = await gpu.byPartition('document', partition);
  if (documents.collection.features.length === 0) {
    const feature = await commune();
    if (!feature?.geometry) return { kind: 'unknown_commune' };
    if (feature.properties?.['is_rnu'] === true) return { kind: 'no_document', rnu: true };
    via = 'geometry';
    fallbackReason = `no document in partition ${partition} (e.g. an intercommunal PLUi): queried by the commune's outline`;
    documents = await gpu.byGeometry('document', feature.geometry);
  }
  const versions = documentVersions(documents.collection);
  const previous = (await readJson<CommuneMark>(ctx.state, markKey(insee)))?.value ?? null;
  if (versions.length === 0) {
    await putJson(ctx.state, markKey(insee), mark(ctx, versions, via, [], 0));
    return { kind: 'no_document', rnu: false };
  }
  if (previous && JSON.stringify(previous.documents) === JSON.stringify(versions))
    return { kind: 'unchanged' };

  let zones: GpuResponse;
  if (via === 'partition') {
    zones = await gpu.byPartition('zone-urba', partition);
    const feature = zones.collection.features.length === 0 ? await commune() : null;
    if (feature?.geometry) {
      via = 'geometry';
      fallbackReason = `zone-urba of ${partition} answered an empty FeatureCollection although the partition has a document (IGNF/apicarto#61): queried by the commune's outline`;
      zones = await gpu.byGeometry('zone-urba', feature.geometry);
    }
  } else {
    zones = await gpu.byGeometry(
      'zone-urba',
      (outline as Feature).geometry as NonNullable<Feature['geometry']>,
    );
  }

  const folder = `${insee}/${compactTime(ctx.scheduledTime)}`;
  const count = zones.collection.features.length;
  await ctx.output.write(`${folder}/zone-urba.geojson`, zones.body, {
    contentType: 'application/geo+json',
    records: count,
  });
  // The documents carry the plan's type, dates and links; small, and what the zones are versions of.
  await ctx.output.write(`${folder}/document.geojson`, documents.body, {
    contentType: 'application/geo+json',
  });
  const keys = [`${folder}/zone-urba.geojson`, `${folder}/document.geojson`];
  await putJson(ctx.state, markKey(insee), mark(ctx, versions, via, keys, count));
  return {
    kind: 'written',
    zones: count,
    keys,
    via,
    ...(fallbackReason ? { fallbackReason } : {}),
    truncated: count >= FEATURE_CAP,
  };
}

function mark(
  ctx: CollectorContext<PluOptions>,
  documents: DocumentVersion[],
  via: 'partition' | 'geometry',
  keys: string[],
  zones: number,
): CommuneMark {
  return { documents, via, keys, zones, scheduledTime: ctx.scheduledTime.toISOString() };
}
