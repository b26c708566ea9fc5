import type { ShardPlan } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import { parsePluOptions, type PluOptions } from './options';

/** The shard of the configured box's zoning (its own run: it is not a commune). */
export const BBOX_SHARD = 'bbox';

/**
 * PLU's shards are its units of work: one per commune (its INSEE code, `75056`, `2A004`), and the box
 * when one is configured. A commune's shard runs that commune only; the box's, the box only.
 */
export const pluShards: ShardPlan<PluOptions> = {
  async list(ctx) {
    return [...new Set(ctx.options.communes), ...(ctx.options.bbox ? [BBOX_SHARD] : [])];
  },

  options(raw, shard) {
    const options = parsePluOptions(raw);
    if (shard === BBOX_SHARD) {
      if (!options.bbox) throw new PermanentError('options.bbox is not set: there is no box to collect');
      return { ...raw };
    }
    if (!options.communes.includes(shard))
      throw new PermanentError(`options.communes does not list commune ${shard}`);
    const { bbox: _box, ...rest } = raw;
    return { ...rest, communes: [shard] };
  },
};

/** What a run covers: every commune and the box, or only its shard's. */
export function runScope(
  options: PluOptions,
  shard: string | undefined,
): { communes: readonly string[]; bbox: PluOptions['bbox'] } {
  if (shard === undefined) return { communes: options.communes, bbox: options.bbox };
  return shard === BBOX_SHARD
    ? { communes: [], bbox: options.bbox }
    : { communes: options.communes, bbox: undefined };
}
