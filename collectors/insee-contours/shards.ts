import type { ShardPlan } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import { getJson, type UpstreamDeps } from '../../src/runtime/upstream';
import { DEPARTEMENT } from '../options';
import { parseInseeContoursOptions, type InseeContoursOptions } from './options';

/**
 * The contours' shards are their units of work: a département of the API source (the configured ones,
 * or every one geo.api.gouv.fr lists for `departements: all`), a layer of the static files.
 */
export const inseeContoursShards: ShardPlan<InseeContoursOptions> = {
  async list(ctx) {
    const o = ctx.options;
    if (o.source === 'static') return [...o.layers];
    if (o.departements !== 'all') return [...o.departements];
    const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
    const base = o.base_url.replace(/\/+$/, '');
    return (await getJson<{ code: string }[]>(upstream, `${base}/departements?fields=code`)).map(
      (d) => d.code,
    );
  },

  options(raw, shard) {
    const o = parseInseeContoursOptions(raw);
    if (o.source === 'static') {
      if (!(o.layers as readonly string[]).includes(shard))
        throw new PermanentError(`options.layers does not hold ${shard}`);
      return { ...raw, layers: [shard] };
    }
    if (!DEPARTEMENT.test(shard)) throw new PermanentError(`"${shard}" is not a département`);
    if (o.departements !== 'all' && !o.departements.includes(shard))
      throw new PermanentError(`options.departements does not hold ${shard}`);
    return { ...raw, departements: [shard] };
  },
};
