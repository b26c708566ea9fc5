import * as v from 'valibot';
import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import { getJson, requestUpstream } from '../../src/runtime/upstream';
import { parseOptions } from '../options';

/**
 * Commune boundaries from geo.api.gouv.fr ("API Découpage administratif"): one GeoJSON
 * FeatureCollection per département, at `<raw>/insee-contours/<YYYY-MM-DD>/communes-<dep>.geojson`.
 */

const DEPARTEMENT = /^(0[1-9]|[1-8]\d|9[0-5]|2A|2B|97[1-6])$/;
const DEFAULT_FIELDS = ['code', 'nom', 'codeDepartement', 'codeRegion', 'population', 'surface'];

const optionsSchema = v.strictObject({
  departements: v.optional(
    v.union([
      v.literal('all'),
      v.array(v.pipe(v.string(), v.regex(DEPARTEMENT, 'is not a département code (01-95, 2A, 2B, 971-976)'))),
    ]),
    ['75'],
  ),
  fields: v.optional(
    v.array(v.pipe(v.string(), v.regex(/^[A-Za-z]+$/, 'is not a field name'))),
    DEFAULT_FIELDS,
  ),
  base_url: v.optional(v.pipe(v.string(), v.url('is not a URL')), 'https://geo.api.gouv.fr'),
});

export type InseeContoursOptions = v.InferOutput<typeof optionsSchema>;

interface FeatureCollection {
  type: 'FeatureCollection';
  features: { type: 'Feature'; properties: Record<string, unknown> }[];
}

export const inseeContours: Collector<InseeContoursOptions> = {
  name: 'insee-contours',
  description: 'INSEE commune boundaries (GeoJSON) from geo.api.gouv.fr, one file per département',
  parseOptions: (raw) => parseOptions(optionsSchema, raw),
  async run(ctx: CollectorContext<InseeContoursOptions>): Promise<CollectorResult> {
    const base = ctx.options.base_url.replace(/\/+$/, '');
    const upstream = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
    const departements =
      ctx.options.departements === 'all'
        ? (await getJson<{ code: string }[]>(upstream, `${base}/departements?fields=code`)).map((d) => d.code)
        : ctx.options.departements;
    const day = ctx.scheduledTime.toISOString().slice(0, 10);
    let communes = 0;
    const perDepartement: Record<string, number> = {};
    // One département at a time: the API's rate limit is undocumented, and this runs daily at most.
    for (const dep of departements) {
      const url = `${base}/departements/${encodeURIComponent(dep)}/communes?format=geojson&geometry=contour&fields=${ctx.options.fields.join(',')}`;
      const response = await requestUpstream(upstream, {
        url,
        headers: { accept: 'application/geo+json, application/json' },
      });
      const collection = parseFeatureCollection(response.body, url);
      await ctx.output.write(`${day}/communes-${dep}.geojson`, response.body, {
        contentType: 'application/geo+json',
        records: collection.features.length,
      });
      perDepartement[dep] = collection.features.length;
      communes += collection.features.length;
      ctx.log.info(`département ${dep}: ${collection.features.length} communes`);
    }
    return { records: communes, summary: { departements: departements.length, communes, perDepartement } };
  },
};

function parseFeatureCollection(body: Buffer, url: string): FeatureCollection {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PermanentError(`${url} did not answer GeoJSON`, {}, 'UPSTREAM_INVALID');
  }
  const fc = parsed as Partial<FeatureCollection>;
  if (fc?.type !== 'FeatureCollection' || !Array.isArray(fc.features)) {
    throw new PermanentError(
      `${url} answered JSON that is not a GeoJSON FeatureCollection`,
      {},
      'UPSTREAM_INVALID',
    );
  }
  return fc as FeatureCollection;
}
