import type { ShardListContext, ShardPlan } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import type { IndexEntry } from '../files-index';
import { DEPARTEMENT } from '../options';
import { departementsOf, parseDvfOptions, type DvfOptions } from './options';
import { ReleaseListing, resolveRelease } from './release';

/**
 * DVF's shards are its units of work: a (year, département) file, `2024-75`, or a year of the national
 * file, `2024`. Listed as a run would walk them: the release's years (or the configured ones, or DVF's
 * window when the listing cannot be read) and each year's département files.
 */
export const dvfShards: ShardPlan<DvfOptions> = {
  async list(ctx: ShardListContext<DvfOptions>): Promise<string[]> {
    const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
    const release = await resolveRelease(upstream, ctx.options.base_url, ctx.scheduledTime);
    const listing = new ReleaseListing(upstream, release);
    const held = await listing.years();
    const years = ctx.options.years ?? held ?? windowYears(ctx.scheduledTime);
    if (ctx.options.files === 'national') return years.map(String);
    const keys: string[] = [];
    for (const year of years) {
      const folder = await listing.files(year, 'departements');
      const listed = folder === 'missing' || folder === null ? null : partsOf(folder);
      for (const dep of departementsOf(ctx.options, listed)) keys.push(`${year}-${dep}`);
    }
    return keys;
  },

  options(raw, shard) {
    const options = parseDvfOptions(raw);
    const m = /^(\d{4})(?:-(.+))?$/.exec(shard);
    const year = m ? Number(m[1]) : NaN;
    const dep = m?.[2];
    const national = options.files === 'national';
    if (!m || (national ? dep !== undefined : dep === undefined || !DEPARTEMENT.test(dep)))
      throw new PermanentError(
        `"${shard}" is not a DVF shard (${national ? 'a year, e.g. 2024' : 'a year and département, e.g. 2024-75'})`,
      );
    if (options.years && !options.years.includes(year))
      throw new PermanentError(`options.years does not hold ${year}`);
    if (dep !== undefined && options.departements !== 'all' && !options.departements.includes(dep))
      throw new PermanentError(`options.departements does not hold ${dep}`);
    return { ...raw, years: [year], ...(dep === undefined ? {} : { departements: [dep] }) };
  },
};

/** Years tried when the release's listing cannot be read: DVF's rolling five-year window and the current year. */
export function windowYears(scheduledTime: Date): number[] {
  const year = scheduledTime.getUTCFullYear();
  return [year - 5, year - 4, year - 3, year - 2, year - 1, year];
}

export function partsOf(listed: Map<string, IndexEntry>): string[] {
  return [...listed.keys()].filter((n) => n.endsWith('.csv.gz')).map((n) => n.slice(0, -'.csv.gz'.length));
}
