import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { compactTime } from '../../src/runtime/output';
import { Units } from '../units';
import { featuresInArea } from './area';
import { syncCommune, type CommuneOutcome } from './commune';
import { bboxPolygon } from './geometry';
import { GpuClient, type GpuResource } from './gpu';
import { parsePluOptions, pluLegacyOptions, type PluOptions } from './options';
import { pluShards, runScope } from './shards';

/**
 * PLU zoning from the Géoportail de l'Urbanisme (IGN API Carto, GPU module): per commune, the zones of
 * its current plan (`zone-urba`, or `secteur-cc` for a carte communale) and the plan's documents, at
 * `<raw>/plu/<insee>/<scheduledTime>/{zone-urba|secteur-cc,document}.geojson`, fetched again only when a
 * document's version changed; optionally everything in a box, at `<raw>/plu/bbox/<scheduledTime>/`.
 * Each commune is a unit of work: one that fails is recorded in the manifest and the others go on.
 */

export type { PluOptions } from './options';

export const plu: Collector<PluOptions> = {
  name: 'plu',
  description:
    'PLU zoning (zone-urba, secteur-cc) per commune from the Géoportail de l’Urbanisme via IGN API Carto',
  parseOptions: parsePluOptions,
  legacyOptions: pluLegacyOptions,
  shards: pluShards,
  async run(ctx: CollectorContext<PluOptions>): Promise<CollectorResult> {
    const scope = runScope(ctx.options, ctx.shard);
    const gpu = new GpuClient(
      { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log },
      ctx.options.base_url.replace(/\/+$/, ''),
      ctx.options.max_features,
    );
    const units = new Units('communes', ctx);
    const outcomes = new Map<string, CommuneOutcome>();
    // One commune at a time: Géoplateforme limits requests per IP and answers 429 beyond.
    for (const insee of new Set(scope.communes)) {
      const outcome = await units.run(
        `commune ${insee}`,
        () => syncCommune(ctx, gpu, insee),
        (o) => (o.kind === 'written' ? 'succeeded' : 'skipped'),
      );
      if (!outcome) continue;
      outcomes.set(insee, outcome);
      ctx.log.info(
        `commune ${insee}: ${outcome.kind}`,
        outcome.kind === 'written' ? { zones: outcome.zones } : {},
      );
    }
    let boxZones = 0;
    const box = scope.bbox;
    if (box) {
      boxZones =
        (await units.run('bbox', () =>
          syncBox(ctx, gpu, { minX: box[0], minY: box[1], maxX: box[2], maxY: box[3] }),
        )) ?? 0;
    }
    return summarise(outcomes, boxZones, units.finish(), gpu.requests, ctx.options.max_features);
  },
};

/** Every zone in the configured box, carte communale sectors included, split in tiles as needed. */
async function syncBox(
  ctx: CollectorContext<PluOptions>,
  gpu: GpuClient,
  box: { minX: number; minY: number; maxX: number; maxY: number },
): Promise<number> {
  const limits = { maxBodyBytes: ctx.options.max_body_bytes, maxSplitDepth: ctx.options.max_split_depth };
  let total = 0;
  for (const resource of ['zone-urba', 'secteur-cc'] as GpuResource[]) {
    const found = await featuresInArea(gpu, resource, bboxPolygon(box), limits, ctx.log);
    await ctx.output.write(
      `bbox/${compactTime(ctx.scheduledTime)}/${resource}.geojson`,
      JSON.stringify({ type: 'FeatureCollection', features: found.features }),
      { contentType: 'application/geo+json', records: found.features.length },
    );
    total += found.features.length;
  }
  return total;
}

function summarise(
  outcomes: Map<string, CommuneOutcome>,
  boxZones: number,
  units: NonNullable<CollectorResult['units']>,
  requests: number,
  cap: number,
): CollectorResult {
  const pick = <K extends CommuneOutcome['kind']>(kind: K) =>
    [...outcomes].filter((e): e is [string, Extract<CommuneOutcome, { kind: K }>] => e[1].kind === kind);
  const written = pick('written');
  const zones = written.reduce((n, [, o]) => n + o.zones, 0) + boxZones;
  const warnings = written
    .filter(([, o]) => o.truncated)
    .map(
      ([insee, o]) =>
        `${insee}: ${o.resource} still reached API Carto's cap of ${cap} features after splitting: the zoning may be cut; extract this commune from the GPU WFS instead`,
    );
  const list = (entries: [string, unknown][]) => entries.map(([insee]) => insee);
  return {
    records: zones,
    summary: {
      communes: outcomes.size,
      zones,
      requests,
      written: written.map(([insee, o]) => ({ insee, zones: o.zones, resource: o.resource, via: o.via })),
      ...(written.some(([, o]) => o.fallbackReason)
        ? {
            fallbacks: written
              .filter(([, o]) => o.fallbackReason)
              .map(([insee, o]) => ({ insee, why: o.fallbackReason })),
          }
        : {}),
      ...(boxZones > 0 ? { bbox: { zones: boxZones } } : {}),
      skipped: {
        ...(pick('unchanged').length > 0
          ? {
              unchanged: {
                why: 'same documents (gpu_doc_id, partition, du_type, gpu_status) as the zoning already stored',
                communes: list(pick('unchanged')),
              },
            }
          : {}),
        ...(pick('no_document').length > 0
          ? {
              no_document: {
                why: 'no urban planning document on the GPU (RNU or not yet published)',
                communes: list(pick('no_document')),
              },
            }
          : {}),
      },
      ...(warnings.length > 0 ? { warnings } : {}),
    },
    units,
  };
}
