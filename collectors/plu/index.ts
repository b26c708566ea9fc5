import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { syncCommune, type CommuneOutcome } from './commune';
import { FEATURE_CAP, GpuClient } from './gpu';
import { parsePluOptions, type PluOptions } from './options';

/**
 * PLU zoning from the Géoportail de l'Urbanisme (IGN API Carto, GPU module): per commune, the zones of
 * its current plan and the plan's documents, at `<raw>/plu/<insee>/<scheduledTime>/{zone-urba,document}.geojson`,
 * fetched again only when a document's version (gpu_doc_id, datappro, datvalid) changed.
 */

export type { PluOptions } from './options';

export const plu: Collector<PluOptions> = {
  name: 'plu',
  description: 'PLU zoning (zone-urba) per commune from the Géoportail de l’Urbanisme via IGN API Carto',
  parseOptions: parsePluOptions,
  async run(ctx: CollectorContext<PluOptions>): Promise<CollectorResult> {
    const gpu = new GpuClient(
      { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log },
      ctx.options.base_url.replace(/\/+$/, ''),
    );
    const outcomes = new Map<string, CommuneOutcome>();
    // One commune at a time: Géoplateforme limits requests per IP and answers 429 beyond.
    for (const insee of new Set(ctx.options.communes)) {
      ctx.signal.throwIfAborted();
      const outcome = await syncCommune(ctx, gpu, insee);
      outcomes.set(insee, outcome);
      ctx.log.info(
        `commune ${insee}: ${outcome.kind}`,
        outcome.kind === 'written' ? { zones: outcome.zones } : {},
      );
    }
    return summarise(outcomes);
  },
};

function summarise(outcomes: Map<string, CommuneOutcome>): CollectorResult {
  const pick = <K extends CommuneOutcome['kind']>(kind: K) =>
    [...outcomes].filter((e): e is [string, Extract<CommuneOutcome, { kind: K }>] => e[1].kind === kind);
  const written = pick('written');
  const zones = written.reduce((n, [, o]) => n + o.zones, 0);
  const warnings = [
    ...written
      .filter(([, o]) => o.truncated)
      .map(
        ([insee, o]) =>
          `${insee}: zone-urba returned ${o.zones} features, API Carto's cap of ${FEATURE_CAP}: the zoning may be truncated; extract this commune from the GPU WFS instead`,
      ),
    ...pick('unknown_commune').map(([insee]) => `${insee}: API Carto knows no commune with this INSEE code`),
  ];
  const list = (entries: [string, unknown][]) => entries.map(([insee]) => insee);
  return {
    records: zones,
    summary: {
      communes: outcomes.size,
      zones,
      written: written.map(([insee, o]) => ({ insee, zones: o.zones, via: o.via })),
      ...(written.some(([, o]) => o.fallbackReason)
        ? {
            fallbacks: written
              .filter(([, o]) => o.fallbackReason)
              .map(([insee, o]) => ({ insee, why: o.fallbackReason })),
          }
        : {}),
      skipped: {
        ...(pick('unchanged').length > 0
          ? {
              unchanged: {
                why: 'same documents (gpu_doc_id, datappro, datvalid) as the zoning already stored',
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
        ...(pick('unknown_commune').length > 0 ? { unknown_commune: list(pick('unknown_commune')) } : {}),
      },
      ...(warnings.length > 0 ? { warnings } : {}),
    },
  };
}
