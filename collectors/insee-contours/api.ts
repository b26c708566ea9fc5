import { errorMessage } from '../../src/errors';
import { parseFeatureCollection } from '../geojson';
import type { CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import { getJson, requestUpstream, type UpstreamDeps } from '../../src/runtime/upstream';
import { putJson, readJson } from '../../src/store/types';
import { redactUrl } from '../../src/util/url';
import { Units } from '../units';
import type { InseeContoursOptions } from './options';

/**
 * The `api` source: one GeoJSON FeatureCollection of commune outlines per département from
 * geo.api.gouv.fr, at `<raw>/insee-contours/<YYYY-MM-DD>/communes-<dep>.geojson`. Asked on `/communes`
 * with `type=commune-actuelle,arrondissement-municipal`, so Paris, Lyon and Marseille come as their
 * arrondissements too (75101…, 69381…, 13201…), the codes DVF and SIRENE use (`datagouv/api-geo`
 * definition.yml; public clients note `/departements/{code}/communes` does not take `type`).
 * Each département is a unit of work, skipped when the data the API serves has not changed since it
 * was stored (same version, same fields and types).
 */

interface FeatureCollection {
  type: 'FeatureCollection';
  features: { type: 'Feature'; properties: Record<string, unknown> | null }[];
}

interface DepartementMark {
  version: string;
  query: string;
  key: string;
  communes: number;
  scheduledTime: string;
}

export async function runApi(ctx: CollectorContext<InseeContoursOptions>): Promise<CollectorResult> {
  const base = ctx.options.base_url.replace(/\/+$/, '');
  const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
  const version = await servedVersion(ctx, upstream, base);
  const departements =
    ctx.options.departements === 'all'
      ? (await getJson<{ code: string }[]>(upstream, `${base}/departements?fields=code`)).map((d) => d.code)
      : ctx.options.departements;
  const day = ctx.scheduledTime.toISOString().slice(0, 10);
  const query = `type=${ctx.options.types.join(',')}&fields=${ctx.options.fields.join(',')}`;
  const units = new Units('départements', ctx);
  const perDepartement: Record<string, number> = {};
  const unchanged: string[] = [];
  let communes = 0;
  for (const dep of departements) {
    const count = await units.run(
      `département ${dep}`,
      async () => {
        const markKey = `departements/${dep}.json`;
        const mark = (await readJson<DepartementMark>(ctx.state, markKey))?.value ?? null;
        if (version !== null && mark?.version === version && mark.query === query) return null;
        const url = `${base}/communes?codeDepartement=${encodeURIComponent(dep)}&${query}&format=geojson&geometry=contour`;
        const response = await requestUpstream(upstream, {
          url,
          headers: { accept: 'application/geo+json, application/json' },
        });
        const collection = parseFeatureCollection<FeatureCollection>(response.body, url);
        if (collection.features.length === 0)
          throw new PermanentError(
            `${redactUrl(url)} answered no commune: is ${dep} a département the API knows?`,
            {},
            'UPSTREAM_INVALID',
          );
        const key = `${day}/communes-${dep}.geojson`;
        await ctx.output.write(key, response.body, {
          contentType: 'application/geo+json',
          records: collection.features.length,
        });
        if (version !== null)
          await putJson(ctx.state, markKey, {
            version,
            query,
            key,
            communes: collection.features.length,
            scheduledTime: ctx.scheduledTime.toISOString(),
          });
        ctx.log.info(`département ${dep}: ${collection.features.length} communes`);
        return collection.features.length;
      },
      (n) => (n === null ? 'skipped' : 'succeeded'),
    );
    if (count === null) unchanged.push(dep);
    else if (count !== undefined) {
      perDepartement[dep] = count;
      communes += count;
    }
  }
  return {
    records: communes,
    summary: {
      source: 'api',
      version,
      departements: departements.length,
      communes,
      perDepartement,
      ...(unchanged.length > 0
        ? {
            skipped: {
              why: `geo.api.gouv.fr still serves ${version}, as when these were stored`,
              departements: unchanged,
            },
          }
        : {}),
    },
    units: units.finish(),
  };
}

/**
 * Which data the API serves (its COG vintage), from `version_path`; null when it does not say, and then
 * every département is fetched (nothing can be skipped safely).
 */
async function servedVersion(
  ctx: CollectorContext<InseeContoursOptions>,
  upstream: UpstreamDeps,
  base: string,
): Promise<string | null> {
  try {
    const infos = await getJson<Record<string, unknown>>(upstream, `${base}${ctx.options.version_path}`, {
      retry: { attempts: 2, minBackoffSeconds: 1, maxBackoffSeconds: 5 },
    });
    const parts = ctx.options.version_fields
      .map((f) => infos?.[f])
      .filter((value) => typeof value === 'string' || typeof value === 'number');
    return parts.length > 0 ? parts.join('/') : null;
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    ctx.log.warn('geo.api.gouv.fr did not say which data it serves; fetching every département', {
      error: errorMessage(error),
    });
    return null;
  }
}
