import * as v from 'valibot';
import type { LegacyOptions } from '../../src/runtime/contract';
import { departementCode, httpUrl, optionsError, parseOptions } from '../options';

/** geo.api.gouv.fr, "API Découpage administratif" (upstreams.md §3, option A). */
export const DEFAULT_BASE_URL = 'https://geo.api.gouv.fr';
/** Etalab's yearly "contours administratifs" files (upstreams.md §3, option B; `datagouv/contours-administratifs`). */
export const DEFAULT_STATIC_BASE_URL = 'https://etalab-datasets.geo.data.gouv.fr/contours-administratifs';

export const CONTOUR_SOURCES = ['api', 'static'] as const;
/** Commune types of the COG; the default adds Paris, Lyon and Marseille's arrondissements (`datagouv/api-geo` definition.yml). */
export const COMMUNE_TYPES = [
  'commune-actuelle',
  'arrondissement-municipal',
  'commune-associee',
  'commune-deleguee',
] as const;
export const STATIC_LAYERS = [
  'communes',
  'departements',
  'regions',
  'epci',
  'communes-associees-deleguees',
  'mairies',
] as const;
export const RESOLUTIONS = ['1000m', '100m', '50m', '5m'] as const;

/** Etalab's yearly series starts with the 2017 COG (public builders list 2017 onwards) [S]. */
export const FIRST_STATIC_YEAR = 2017;

const DEFAULT_FIELDS = ['code', 'nom', 'codeDepartement', 'codeRegion', 'population', 'surface'];

const staticYear = v.pipe(
  v.number(),
  v.integer('must be a whole year'),
  v.minValue(
    FIRST_STATIC_YEAR,
    `must be ${FIRST_STATIC_YEAR} or later: Etalab's yearly files start with the ${FIRST_STATIC_YEAR} COG`,
  ),
  v.maxValue(2100, 'must be a year'),
);

const optionsSchema = v.strictObject({
  /** api: geo.api.gouv.fr per département; static: Etalab's national file per layer and resolution. */
  source: v.optional(v.picklist(CONTOUR_SOURCES, `must be one of ${CONTOUR_SOURCES.join(', ')}`), 'api'),
  departements: v.optional(
    v.union([
      v.literal('all'),
      v.pipe(v.array(departementCode), v.minLength(1, 'must list at least one département, or be "all"')),
    ]),
    ['75'],
  ),
  fields: v.optional(
    v.array(v.pipe(v.string(), v.regex(/^[A-Za-z]+$/, 'is not a field name'))),
    DEFAULT_FIELDS,
  ),
  types: v.optional(
    v.pipe(v.array(v.picklist(COMMUNE_TYPES, `must be one of ${COMMUNE_TYPES.join(', ')}`)), v.minLength(1)),
    ['commune-actuelle', 'arrondissement-municipal'],
  ),
  base_url: v.optional(httpUrl, DEFAULT_BASE_URL),
  /**
   * Where the API says which data it serves, and the fields naming that version. Unconfirmed: api-geo
   * writes an `api_infos.json` with the `@etalab/decoupage-administratif` version it was built from
   * (`datagouv/api-geo` generate-infos.js); that it is served at `/infos` is seen in one client only.
   */
  version_path: v.optional(
    v.pipe(v.string(), v.regex(/^\/\S*$/, 'must be a path starting with "/"')),
    '/infos',
  ),
  version_fields: v.optional(v.array(v.pipe(v.string(), v.minLength(1))), [
    '@etalab/decoupage-administratif',
  ]),

  layers: v.optional(
    v.pipe(v.array(v.picklist(STATIC_LAYERS, `must be one of ${STATIC_LAYERS.join(', ')}`)), v.minLength(1)),
    ['communes', 'departements', 'regions', 'epci'],
  ),
  resolution: v.optional(v.picklist(RESOLUTIONS, `must be one of ${RESOLUTIONS.join(', ')}`), '100m'),
  year: v.optional(v.union([v.literal('latest'), staticYear], 'must be a year or "latest"'), 'latest'),
  fallback_years: v.optional(v.array(staticYear), []),
  static_base_url: v.optional(httpUrl, DEFAULT_STATIC_BASE_URL),
});

export type InseeContoursOptions = v.InferOutput<typeof optionsSchema>;

const API_ONLY = ['departements', 'fields', 'types', 'base_url', 'version_path', 'version_fields'];
const STATIC_ONLY = ['layers', 'resolution', 'year', 'fallback_years', 'static_base_url'];

export function parseInseeContoursOptions(raw: Readonly<Record<string, unknown>>): InseeContoursOptions {
  const options = parseOptions(optionsSchema, raw);
  const misplaced = (options.source === 'api' ? STATIC_ONLY : API_ONLY).filter((k) => raw[k] !== undefined);
  if (misplaced.length > 0) {
    throw optionsError(
      misplaced.map((k) => ({
        path: [k],
        message: `applies to source: ${options.source === 'api' ? 'static' : 'api'}, and source is ${options.source}`,
      })),
    );
  }
  return options;
}

/**
 * The original layout's `data_sources.insee_contours` took Etalab's files: `data_types` are the layers,
 * `target_year` the year, `fallback_years` the years tried when it is not published.
 */
export function inseeContoursLegacyOptions(section: Readonly<Record<string, unknown>>): LegacyOptions {
  const options: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const unmapped: LegacyOptions['unmapped'] = [];
  const map = { data_types: 'layers', target_year: 'year', fallback_years: 'fallback_years' } as const;
  for (const [key, value] of Object.entries(section)) {
    const target = map[key as keyof typeof map];
    if (target) {
      options[target] = value;
      from[target] = key;
    } else if (key === 'formats') {
      unmapped.push({ key, why: 'GeoJSON (gzipped) is the format taken; other formats are not collected' });
    } else unmapped.push({ key, why: 'no INSEE contours option means this' });
  }
  if (Object.keys(options).length > 0) {
    options['source'] = 'static';
    from['source'] = Object.keys(section)[0] ?? 'data_types';
  }
  return { options, from, unmapped };
}
