import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { SkipRun } from '../../src/runtime/errors';
import { describeRef } from '../../src/secrets/types';
import { runApiSweep } from './api';
import { keyRef, parseSireneOptions, sireneLegacyOptions, type SireneOptions } from './options';
import { runStock } from './stock';

/**
 * SIRENE (INSEE's company register), from one of two sources:
 * - `stock`: the monthly stock files (`StockEtablissement_utf8.zip`, optionally `StockUniteLegale_utf8.zip`)
 *   from files.data.gouv.fr, streamed into `<raw>/sirene/stock/<YYYY-MM>/<name>`; no key needed, as the
 *   original collectors did it;
 * - `api`: API Sirene 3.11's daily increments (établissements updated since the last run), with a key.
 * `auto` (the default) takes `api` when a key is configured, else `stock`.
 */

export type { SireneOptions } from './options';

export const sirene: Collector<SireneOptions> = {
  name: 'sirene',
  description: 'SIRENE: the monthly stock files (no key), or API Sirene 3.11 daily increments (with a key)',
  parseOptions: parseSireneOptions,
  legacyOptions: sireneLegacyOptions,
  async run(ctx: CollectorContext<SireneOptions>): Promise<CollectorResult> {
    ctx.signal.throwIfAborted();
    if (ctx.options.source === 'stock') return runStock(ctx);
    const ref = keyRef(ctx.options);
    const key = await ctx.secrets.get(ref);
    if (key) return runApiSweep(ctx, key);
    if (ctx.options.source === 'auto') {
      ctx.log.info(`no API Sirene key (${describeRef(ref)}): taking the monthly stock files`);
      return runStock(ctx);
    }
    throw new SkipRun(
      'missing_credentials',
      `no API Sirene key: set ${describeRef(ref)} to a portail-api.insee.fr key subscribed to API Sirene 3.11, or use source: stock (no key needed)`,
    );
  },
};
