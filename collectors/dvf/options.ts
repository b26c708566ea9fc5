import * as v from 'valibot';
import { parseOptions } from '../options';

/** Where Etalab publishes geo-dvf; `latest` is an alias of the newest `YYYY-MM` release folder. */
export const DEFAULT_BASE_URL = 'https://files.data.gouv.fr/geo-dvf/latest/csv';

/**
 * The département files geo-dvf publishes (`01`…`95` without `20`, `2A`, `2B`, `971`…`974`). Alsace
 * (67, 68), Moselle (57) and Mayotte (976) are outside DVF's coverage: they may be asked for by name
 * (their 404 is then reported as `excluded`), but `all` does not include them.
 */
export const PUBLISHED_DEPARTEMENTS: readonly string[] = [
  ...Array.from({ length: 95 }, (_, i) => String(i + 1).padStart(2, '0')).filter(
    (d) => !['20', '57', '67', '68'].includes(d),
  ),
  '2A',
  '2B',
  '971',
  '972',
  '973',
  '974',
];

/** Départements DVF does not cover: a 404 for them is expected, not a failure. */
export const EXCLUDED_DEPARTEMENTS: readonly string[] = ['57', '67', '68', '976'];

const DEPARTEMENT = /^(0[1-9]|1\d|[3-8]\d|9[0-5]|2[1-9]|2A|2B|97[1-6])$/;

/** DVF starts in 2014 and keeps a rolling five-year window; older years answer 404. */
const FIRST_YEAR = 2014;

const optionsSchema = v.strictObject({
  /** Default: the two most recent full years (see `defaultYears`). */
  years: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.number(),
          v.integer('must be a whole year'),
          v.minValue(FIRST_YEAR, `must be ${FIRST_YEAR} or later (DVF starts in ${FIRST_YEAR})`),
          v.maxValue(2100, 'must be a year, not a timestamp'),
        ),
      ),
      v.minLength(1, 'must list at least one year'),
    ),
  ),
  departements: v.optional(
    v.union([
      v.literal('all'),
      v.pipe(
        v.array(
          v.pipe(v.string(), v.regex(DEPARTEMENT, 'is not a département code (01-95, 2A, 2B, 971-976)')),
        ),
        v.minLength(1, 'must list at least one département, or be "all"'),
      ),
    ]),
    'all',
  ),
  base_url: v.optional(v.pipe(v.string(), v.url('is not a URL')), DEFAULT_BASE_URL),
});

export type DvfOptions = v.InferOutput<typeof optionsSchema>;

export function parseDvfOptions(raw: Readonly<Record<string, unknown>>): DvfOptions {
  return parseOptions(optionsSchema, raw);
}

/**
 * The two most recent full years before the run. Two, not one: DGFiP completes year N-1 only in its
 * April release, so from January to April the last full year is missing or partial.
 */
export function defaultYears(scheduledTime: Date): number[] {
  const year = scheduledTime.getUTCFullYear();
  return [year - 2, year - 1];
}

export function departementsOf(options: DvfOptions): readonly string[] {
  return options.departements === 'all' ? PUBLISHED_DEPARTEMENTS : [...new Set(options.departements)];
}
