import * as v from 'valibot';
import type { LegacyOptions } from '../../src/runtime/contract';
import { httpUrl, optionsError, parseOptions, wholeNumber } from '../options';

export const DEFAULT_BASE_URL = 'https://apicarto.ign.fr/api/gpu';

/**
 * API Carto's feature cap per request (`_limit` in `IGNF/apicarto` controllers/gpu; upstreams.md §4, 5000
 * since 2020). One stored copy of the controller still shows 1000: configurable, and any answer that
 * reaches the cap or says more matched than it returned is split further.
 */
export const DEFAULT_MAX_FEATURES = 5000;

/**
 * API Carto parses POST bodies with body-parser's JSON default, 100 kB (`IGNF/apicarto` app.js:
 * `bodyParser.json()`; body-parser's documented default limit), and answers 413 beyond. Outlines are
 * simplified below this before they are sent.
 */
export const DEFAULT_MAX_BODY_BYTES = 100_000;

/** A commune's INSEE code: five digits, or 2A/2B and three digits in Corsica. */
const INSEE = /^(\d{5}|2[AB]\d{3})$/;

const lon = v.pipe(v.number(), v.minValue(-180), v.maxValue(180));
const lat = v.pipe(v.number(), v.minValue(-90), v.maxValue(90));

const optionsSchema = v.strictObject({
  /** Communes whose local plan (PLU, POS, carte communale) zoning to collect; default Paris. */
  communes: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.check(
            (s) => INSEE.test(s),
            (issue) =>
              `${JSON.stringify(issue.input)} is not an INSEE commune code (5 characters, e.g. 75056 or 2A004)`,
          ),
        ),
      ),
      v.minLength(1, 'must list at least one commune'),
    ),
    ['75056'],
  ),
  /** Also the zoning inside this box, [min lon, min lat, max lon, max lat] in EPSG:4326. */
  bbox: v.optional(v.tuple([lon, lat, lon, lat], 'must be [min lon, min lat, max lon, max lat]')),
  max_features: v.optional(wholeNumber(1, 100_000, 'features'), DEFAULT_MAX_FEATURES),
  max_body_bytes: v.optional(wholeNumber(1_000, 10_000_000, 'bytes'), DEFAULT_MAX_BODY_BYTES),
  /** How many times an area is split in four when its answers still reach the cap. */
  max_split_depth: v.optional(wholeNumber(0, 8), 5),
  base_url: v.optional(httpUrl, DEFAULT_BASE_URL),
});

export type PluOptions = v.InferOutput<typeof optionsSchema>;

export function parsePluOptions(raw: Readonly<Record<string, unknown>>): PluOptions {
  const options = parseOptions(optionsSchema, raw);
  const b = options.bbox;
  if (b && (b[0] >= b[2] || b[1] >= b[3])) {
    throw optionsError([{ path: ['bbox'], message: 'its minimums must be smaller than its maximums' }]);
  }
  return options;
}

/**
 * The original layout's `data_sources.plu`: `filter_options.insee_codes` are the communes,
 * `filter_options.default_bbox` the box, `max_features` the cap; it read the GPU WFS, which this does not.
 */
export function pluLegacyOptions(section: Readonly<Record<string, unknown>>): LegacyOptions {
  const options: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const unmapped: LegacyOptions['unmapped'] = [];
  for (const [key, value] of Object.entries(section)) {
    if (key === 'max_features') {
      options['max_features'] = value;
      from['max_features'] = key;
    } else if (key === 'filter_options' && value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [sub, subValue] of Object.entries(value)) {
        if (sub === 'insee_codes') {
          options['communes'] = Array.isArray(subValue)
            ? subValue.map((c) => (typeof c === 'number' ? String(c).padStart(5, '0') : c))
            : subValue;
          from['communes'] = 'filter_options.insee_codes';
        } else if (sub === 'default_bbox') {
          options['bbox'] =
            typeof subValue === 'string' ? subValue.split(',').map((n) => Number(n.trim())) : subValue;
          from['bbox'] = 'filter_options.default_bbox';
        } else unmapped.push({ key: `filter_options.${sub}`, why: 'no PLU option means this' });
      }
    } else {
      const why: Record<string, string> = {
        wfs_endpoint: 'the zoning is read from API Carto (options.base_url), not from the GPU WFS',
        layer_types: 'the layers are chosen per document: zone-urba, or secteur-cc for a carte communale',
      };
      unmapped.push({ key, why: why[key] ?? 'no PLU option means this' });
    }
  }
  return { options, from, unmapped };
}
