import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { runApi } from './api';
import { inseeContoursLegacyOptions, parseInseeContoursOptions, type InseeContoursOptions } from './options';
import { inseeContoursShards } from './shards';
import { runStatic } from './static';

/**
 * Administrative boundaries (GeoJSON): commune outlines per département from geo.api.gouv.fr (`api`,
 * the default, arrondissements of Paris, Lyon and Marseille included), or Etalab's yearly national files
 * per layer for communes, départements, régions and EPCI (`static`).
 */

export type { InseeContoursOptions } from './options';

export const inseeContours: Collector<InseeContoursOptions> = {
  name: 'insee-contours',
  description:
    'INSEE boundaries (GeoJSON): communes per département from geo.api.gouv.fr, or Etalab’s yearly files',
  parseOptions: parseInseeContoursOptions,
  legacyOptions: inseeContoursLegacyOptions,
  shards: inseeContoursShards,
  async run(ctx: CollectorContext<InseeContoursOptions>): Promise<CollectorResult> {
    ctx.signal.throwIfAborted();
    return ctx.options.source === 'static' ? runStatic(ctx) : runApi(ctx);
  },
};
