import * as v from 'valibot';
import { parseOptions } from '../options';

export const DEFAULT_BASE_URL = 'https://apicarto.ign.fr/api/gpu';

/** A commune's INSEE code: five digits, or 2A/2B and three digits in Corsica. */
const INSEE = /^(\d{5}|2[AB]\d{3})$/;

const optionsSchema = v.strictObject({
  /** Communes whose local plan (PLU, POS, carte communale) zoning to collect; default Paris. */
  communes: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.regex(INSEE, 'is not an INSEE commune code (5 characters, e.g. 75056 or 2A004)'),
        ),
      ),
      v.minLength(1, 'must list at least one commune'),
    ),
    ['75056'],
  ),
  base_url: v.optional(v.pipe(v.string(), v.url('is not a URL')), DEFAULT_BASE_URL),
});

export type PluOptions = v.InferOutput<typeof optionsSchema>;

export function parsePluOptions(raw: Readonly<Record<string, unknown>>): PluOptions {
  return parseOptions(optionsSchema, raw);
}
