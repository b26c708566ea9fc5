import * as v from 'valibot';
import type { CredentialRef } from '../../src/secrets/types';
import { parseOptions } from '../options';

export const DEFAULT_BASE_URL = 'https://api.insee.fr/api-sirene/3.11';

/** The standard plan's budget (InseeFrLab/DoReMIFaSol#57); some accounts are granted 500. */
export const DEFAULT_REQUESTS_PER_MINUTE = 30;

/** API Sirene's largest page (`nombre`). */
export const MAX_PAGE_SIZE = 1000;

const isoDay = v.pipe(
  v.string(),
  v.regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD'),
  v.check((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)), 'must be a real date'),
);

const optionsSchema = v.strictObject({
  /** Environment variable holding the portail-api.insee.fr key. */
  api_key_env: v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not an environment variable name')),
    'SIRENE_API_KEY',
  ),
  /** A Secret Manager version holding the key; wins over api_key_env when set. */
  api_key_secret: v.optional(
    v.pipe(
      v.string(),
      v.regex(
        /^projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+$/,
        'must look like projects/P/secrets/S/versions/V',
      ),
    ),
  ),
  base_url: v.optional(v.pipe(v.string(), v.url('is not a URL')), DEFAULT_BASE_URL),
  /** Where the first sweep starts when no watermark exists yet; default: the day before the run. */
  initial_since: v.optional(isoDay),
  /** How far before the watermark each sweep starts again, so late-indexed updates are not missed. */
  overlap_days: v.optional(
    v.pipe(v.number(), v.integer('must be a whole number of days'), v.minValue(0), v.maxValue(31)),
    1,
  ),
  page_size: v.optional(
    v.pipe(
      v.number(),
      v.integer('must be a whole number'),
      v.minValue(1, 'must be at least 1'),
      v.maxValue(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE} (API Sirene's limit)`),
    ),
    MAX_PAGE_SIZE,
  ),
  requests_per_minute: v.optional(
    v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1), v.maxValue(6000)),
    DEFAULT_REQUESTS_PER_MINUTE,
  ),
});

export type SireneOptions = v.InferOutput<typeof optionsSchema>;

export function parseSireneOptions(raw: Readonly<Record<string, unknown>>): SireneOptions {
  return parseOptions(optionsSchema, raw);
}

export function keyRef(options: SireneOptions): CredentialRef {
  return options.api_key_secret ? { secret: options.api_key_secret } : { env: options.api_key_env };
}
