import { compactTime } from '../../src/runtime/output';
import { requestUpstream, type UpstreamDeps } from '../../src/runtime/upstream';
import { errorMessage } from '../../src/errors';

/**
 * Which geo-dvf release a run reads. Etalab publishes dated folders (`geo-dvf/2025-10/csv`) and a
 * `latest` alias; the newest folder name is the cheapest freshness signal there is (upstreams.md §1), so
 * a run resolves `latest` to it, downloads from the dated folder (a release switching mid-run cannot
 * mix two releases) and keys its objects by it.
 */
export interface Release {
  /** `YYYY-MM`, or `fetched-<scheduledTime>` when the release could not be observed. */
  name: string;
  /** Base URL the département files are read from. */
  base: string;
  /** `url`: named in base_url; `index`: read from the folder listing; `unresolved`: neither. */
  source: 'url' | 'index' | 'unresolved';
  /** Why the release could not be resolved, for the summary. */
  note?: string;
}

const RELEASE = /^\d{4}-(0[1-9]|1[0-2])$/;

export async function resolveRelease(
  deps: UpstreamDeps,
  baseUrl: string,
  scheduledTime: Date,
): Promise<Release> {
  const base = baseUrl.replace(/\/+$/, '');
  const url = new URL(base);
  const segments = url.pathname.split('/');
  const dated = segments.find((s) => RELEASE.test(s));
  if (dated) return { name: dated, base, source: 'url' };

  const unresolved = (note: string): Release => ({
    name: `fetched-${compactTime(scheduledTime)}`,
    base,
    source: 'unresolved',
    note,
  });
  const latestAt = segments.lastIndexOf('latest');
  if (latestAt < 0) return unresolved('base_url names neither a YYYY-MM release nor "latest"');

  const index = new URL(url.toString());
  index.pathname = segments.slice(0, latestAt).join('/') + '/';
  index.search = '';
  let listing: string;
  try {
    const response = await requestUpstream(deps, {
      url: index.toString(),
      headers: { accept: 'text/html' },
      maxBytes: 1024 * 1024,
    });
    listing = response.body.toString('utf8');
  } catch (error) {
    if (deps.signal.aborted) throw error;
    // The listing only saves work; without it, files are compared by their HTTP validators instead.
    deps.log.warn('geo-dvf release listing unavailable; comparing files by ETag/Last-Modified', {
      error: errorMessage(error),
    });
    return unresolved(`release listing ${index.toString()} unavailable: ${errorMessage(error)}`);
  }
  const newest = newestRelease(listing);
  if (!newest) return unresolved(`no YYYY-MM folder in the listing at ${index.toString()}`);
  const datedSegments = [...segments];
  datedSegments[latestAt] = newest;
  const datedUrl = new URL(url.toString());
  datedUrl.pathname = datedSegments.join('/');
  return { name: newest, base: datedUrl.toString().replace(/\/+$/, ''), source: 'index' };
}

/** The newest `YYYY-MM/` folder linked from an HTML directory listing, or null. */
export function newestRelease(html: string): string | null {
  let newest: string | null = null;
  for (const match of html.matchAll(/href="(?:[^"]*\/)?(\d{4}-\d{2})\/?"/g)) {
    const name = match[1] as string;
    if (RELEASE.test(name) && (newest === null || name > newest)) newest = name;
  }
  return newest;
}
