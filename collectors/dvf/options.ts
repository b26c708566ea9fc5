import * as v from 'valibot';
import type { LegacyOptions } from '../../src/runtime/contract';
import { ALL_DEPARTEMENTS, departementCode, httpUrl, optionsError, parseOptions } from '../options';

/** Where Etalab publishes geo-dvf; `latest` is an alias of the newest release folder. */
export const DEFAULT_BASE_URL = 'https://files.data.gouv.fr/geo-dvf/latest/csv';

/** Départements DVF does not cover (Alsace-Moselle 57, 67, 68 and Mayotte 976): their 404 is expected. */
export const EXCLUDED_DEPARTEMENTS: readonly string[] = ['57', '67', '68', '976'];

/**
 * The département files geo-dvf publishes, for `departements: all` when no listing says which there
 * are: every département but the excluded ones (upstreams.md §1, `datagouv/dvf` improve-csv.js).
 */
export const PUBLISHED_DEPARTEMENTS: readonly string[] = ALL_DEPARTEMENTS.filter(
  (d) => !EXCLUDED_DEPARTEMENTS.includes(d),
);

/** DVF starts in 2014 (the first DGFiP year); no release holds an earlier one. */
export const FIRST_YEAR = 2014;

/** departements: one gzipped CSV per (year, département); national: `<year>/full.csv.gz`, all of France. */
export const DVF_FILES = ['departements', 'national'] as const;

const year = v.pipe(
  v.number(),
  v.integer('must be a whole year'),
  v.minValue(
    FIRST_YEAR,
    `must be ${FIRST_YEAR} or later: DVF starts in ${FIRST_YEAR}, no release holds an earlier year`,
  ),
  v.maxValue(2100, 'must be a year, not a timestamp'),
);

const optionsSchema = v.strictObject({
  /** Default: every year the release holds (its listing says which). */
  years: v.optional(v.pipe(v.array(year), v.minLength(1, 'must list at least one year'))),
  departements: v.optional(
    v.union([
      v.literal('all'),
      v.pipe(v.array(departementCode), v.minLength(1, 'must list at least one département, or be "all"')),
    ]),
    'all',
  ),
  files: v.optional(v.picklist(DVF_FILES, `must be one of ${DVF_FILES.join(', ')}`), 'departements'),
  /**
   * Count each file's rows for the manifest, inflating it whole on the way; false checks the header
   * only. A national file is about a gigabyte of CSV: counting it is CPU-bound (see `npm run bench`).
   */
  count_rows: v.optional(v.boolean(), true),
  base_url: v.optional(httpUrl, DEFAULT_BASE_URL),
});

export type DvfOptions = v.InferOutput<typeof optionsSchema>;

export function parseDvfOptions(raw: Readonly<Record<string, unknown>>): DvfOptions {
  const options = parseOptions(optionsSchema, raw);
  if (options.files === 'national' && raw['departements'] !== undefined) {
    throw optionsError([
      {
        path: ['departements'],
        message: 'does not apply with files: national (full.csv.gz covers all of France); remove one',
      },
    ]);
  }
  return options;
}

/** The original layout's `data_sources.dvf`: `years` means the same; its base_url was this default. */
export function dvfLegacyOptions(section: Readonly<Record<string, unknown>>): LegacyOptions {
  const options: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const unmapped: LegacyOptions['unmapped'] = [];
  for (const [key, value] of Object.entries(section)) {
    if (key === 'years') {
      options['years'] = Array.isArray(value)
        ? value.map((y) => (typeof y === 'string' && /^\d{4}$/.test(y) ? Number(y) : y))
        : value;
      from['years'] = 'years';
    } else {
      unmapped.push({
        key,
        why:
          key === 'base_url'
            ? 'not read: set collectors.dvf.options.base_url to change where geo-dvf is read from'
            : 'no DVF option means this',
      });
    }
  }
  return { options, from, unmapped };
}

export function departementsOf(options: DvfOptions, listed: readonly string[] | null): readonly string[] {
  if (options.departements !== 'all') return [...new Set(options.departements)];
  return listed ?? PUBLISHED_DEPARTEMENTS;
}
