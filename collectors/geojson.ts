import { PermanentError } from '../src/runtime/errors';
import { redactUrl } from '../src/util/url';

/**
 * The GeoJSON FeatureCollection `url` answered (geo.api.gouv.fr, API Carto), typed as the caller reads
 * its features; anything else is an upstream that cannot be read, which no retry helps.
 */
export function parseFeatureCollection<T extends { type: 'FeatureCollection'; features: unknown[] }>(
  body: Buffer,
  url: string,
): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PermanentError(`${redactUrl(url)} did not answer JSON`, {}, 'UPSTREAM_INVALID');
  }
  const fc = parsed as Partial<T> | null;
  if (fc?.type !== 'FeatureCollection' || !Array.isArray(fc.features)) {
    throw new PermanentError(
      `${redactUrl(url)} answered JSON that is not a GeoJSON FeatureCollection`,
      {},
      'UPSTREAM_INVALID',
    );
  }
  return fc as T;
}
