import { errorMessage } from '../../src/errors';
import { compactTime } from '../../src/runtime/output';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { readIndex, type IndexEntry } from '../files-index';

/**
 * Which geo-dvf release a run reads. Etalab publishes dated folders (`geo-dvf/2025-10/csv`; one client
 * also saw `YYYY-MM-DD`) and a `latest` alias (upstreams.md §1); a run resolves `latest` to the newest
 * folder of the `/geo-dvf/` listing, downloads from that folder (a release switching mid-run cannot mix
 * two) and keys its objects by it.
 */
export interface Release {
  /** `YYYY-MM` or `YYYY-MM-DD`, or `fetched-<scheduledTime>` when the release could not be observed. */
  name: string;
  /** The release's `csv` folder URL, without a trailing slash. */
  base: string;
  /** `url`: named in base_url; `index`: read from the folder listing; `unresolved`: neither. */
  source: 'url' | 'index' | 'unresolved';
  /** Why the release could not be resolved, for the summary. */
  note?: string;
}

const RELEASE = /^(\d{4})-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?$/;

export function isReleaseName(name: string): boolean {
  return RELEASE.test(name);
}

/** The last day a release folder covers: `2025-12` → 2025-12-31, `2025-06-30` → itself (for ordering). */
export function releaseEnd(name: string): string {
  const m = RELEASE.exec(name);
  if (!m) return '';
  if (m[3]) return name;
  const last = new Date(Date.UTC(Number(m[1]), Number(m[2]), 0)).getUTCDate();
  return `${m[1]}-${m[2]}-${String(last).padStart(2, '0')}`;
}

export async function resolveRelease(
  deps: UpstreamDeps,
  baseUrl: string,
  scheduledTime: Date,
): Promise<Release> {
  const base = baseUrl.replace(/\/+$/, '');
  const url = new URL(base);
  const segments = url.pathname.split('/');
  const dated = segments.find(isReleaseName);
  if (dated) return { name: dated, base, source: 'url' };

  const unresolved = (note: string): Release => ({
    name: `fetched-${compactTime(scheduledTime)}`,
    base,
    source: 'unresolved',
    note,
  });
  const latestAt = segments.lastIndexOf('latest');
  if (latestAt < 0) return unresolved('base_url names neither a release folder nor "latest"');

  const root = new URL(url.toString());
  root.pathname = segments.slice(0, latestAt).join('/') + '/';
  root.search = '';
  let entries: IndexEntry[] | null;
  try {
    entries = await readIndex(deps, root.toString());
  } catch (error) {
    if (deps.signal.aborted) throw error;
    // The listing only saves work; without it, files are compared by their HTTP validators instead.
    deps.log.warn('geo-dvf release listing unavailable; comparing files by ETag/Last-Modified', {
      error: errorMessage(error),
    });
    return unresolved(`release listing ${root.toString()} unavailable: ${errorMessage(error)}`);
  }
  const newest = newestRelease(entries ?? []);
  if (!newest) return unresolved(`no release folder in the listing at ${root.toString()}`);
  const datedSegments = [...segments];
  datedSegments[latestAt] = newest;
  const datedUrl = new URL(url.toString());
  datedUrl.pathname = datedSegments.join('/');
  return { name: newest, base: datedUrl.toString().replace(/\/+$/, ''), source: 'index' };
}

/** The newest release folder of a listing (by the day it covers up to), or null. */
export function newestRelease(entries: readonly IndexEntry[]): string | null {
  let newest: string | null = null;
  for (const e of entries) {
    if (!isReleaseName(e.name)) continue;
    if (newest === null || releaseEnd(e.name) > releaseEnd(newest)) newest = e.name;
  }
  return newest;
}

/**
 * A release's listings, read once each: the years it holds and each year's files. A listing that
 * cannot be read is null (the caller falls back to HTTP validators); a folder that does not exist is
 * `missing`.
 */
export class ReleaseListing {
  private readonly folders = new Map<string, Promise<IndexEntry[] | null | 'unavailable'>>();

  constructor(
    private readonly deps: UpstreamDeps,
    private readonly release: Release,
  ) {}

  /** The years the release holds, or null when its listing cannot be read. */
  async years(): Promise<number[] | null> {
    const entries = await this.folder('');
    if (entries === null || entries === 'unavailable') return null;
    const years = entries.filter((e) => /^\d{4}$/.test(e.name)).map((e) => Number(e.name));
    return years.length > 0 ? years.sort((a, b) => a - b) : null;
  }

  /** The files of `<year>/<sub>` by name; `missing` when the folder does not exist, null when unknown. */
  async files(year: number, sub: string): Promise<Map<string, IndexEntry> | 'missing' | null> {
    const entries = await this.folder(sub ? `${year}/${sub}` : `${year}`);
    if (entries === 'unavailable') return null;
    if (entries === null) return 'missing';
    return new Map(entries.filter((e) => !e.isDirectory).map((e) => [e.name, e]));
  }

  private folder(path: string): Promise<IndexEntry[] | null | 'unavailable'> {
    let pending = this.folders.get(path);
    if (!pending) {
      const url = `${this.release.base}/${path}`;
      pending = readIndex(this.deps, url).catch((error: unknown) => {
        if (this.deps.signal.aborted) throw error;
        this.deps.log.warn(
          `geo-dvf listing ${url.replace(/\/+$/, '')}/ unavailable; comparing files by ETag/Last-Modified`,
          {
            error: errorMessage(error),
          },
        );
        return 'unavailable' as const;
      });
      this.folders.set(path, pending);
    }
    return pending;
  }
}
