import * as v from 'valibot';
import type { LegacyOptions } from '../../src/runtime/contract';
import type { CredentialRef } from '../../src/secrets/types';
import { httpUrl, parseOptions, wholeNumber } from '../options';

export const DEFAULT_BASE_URL = 'https://api.insee.fr/api-sirene/3.11';

/**
 * Where data.gouv.fr serves the monthly SIRENE stock files, as `<YYYY-MM-DD>-<name>` and the undated
 * latest `<name>` (several public clients; upstreams.md §2 "Prefer the monthly stock files").
 */
export const DEFAULT_STOCK_BASE_URL = 'https://files.data.gouv.fr/insee-sirene';

/** stock: the monthly files, no key needed; api: API Sirene's daily increments, with a key; auto: api with a key. */
export const SIRENE_SOURCES = ['auto', 'stock', 'api'] as const;
export type SireneSource = (typeof SIRENE_SOURCES)[number];

const STOCK_FILE = /^Stock[A-Za-z]+_utf8\.zip$/;
const headerName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]+$/, 'is not a header name'));

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
  source: v.optional(v.picklist(SIRENE_SOURCES, `must be one of ${SIRENE_SOURCES.join(', ')}`), 'auto'),
  base_url: v.optional(httpUrl, DEFAULT_BASE_URL),
  stock_base_url: v.optional(httpUrl, DEFAULT_STOCK_BASE_URL),
  /** The stock files to take each month (StockUniteLegale_utf8.zip too, for legal units). */
  stock_files: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.check(
            (s) => STOCK_FILE.test(s),
            (issue) =>
              `${JSON.stringify(issue.input)} is not a SIRENE stock file name (e.g. StockEtablissement_utf8.zip)`,
          ),
        ),
      ),
      v.minLength(1, 'must name at least one stock file'),
    ),
    ['StockEtablissement_utf8.zip'],
  ),
  /** How many monthly releases to keep stored, the newest first (1: only the latest month's). */
  months_back: v.optional(wholeNumber(1, 24, 'months'), 1),
  /**
   * Rate-limit headers of API Sirene's gateway, honoured when present. Their names are unconfirmed
   * (no source found); these are the common `X-RateLimit-*` ones. Reset is seconds from now, or a Unix time.
   */
  rate_limit_remaining_header: v.optional(headerName, 'x-ratelimit-remaining'),
  rate_limit_reset_header: v.optional(headerName, 'x-ratelimit-reset'),
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

/** The original layout's `data_sources.sirene`: `stock_files` and `months_back` mean the same here. */
export function sireneLegacyOptions(section: Readonly<Record<string, unknown>>): LegacyOptions {
  const options: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const unmapped: LegacyOptions['unmapped'] = [];
  const why: Record<string, string> = {
    base_url:
      'not read: set collectors.sirene.options.stock_base_url to change where the stock files are read from',
    optional_files: 'not collected by default: add the names to stock_files to collect them',
  };
  for (const [key, value] of Object.entries(section)) {
    if (key === 'stock_files' || key === 'months_back') {
      options[key] = value;
      from[key] = key;
    } else unmapped.push({ key, why: why[key] ?? 'no SIRENE option means this' });
  }
  return { options, from, unmapped };
}

export function keyRef(options: SireneOptions): CredentialRef {
  return options.api_key_secret ? { secret: options.api_key_secret } : { env: options.api_key_env };
}
