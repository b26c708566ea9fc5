import type { CollectorContext } from '../../src/runtime/contract';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { sameListing, type IndexEntry } from '../files-index';
import { downloadFile } from './download';
import { readMark, writeMark, type FileMark } from './marks';
import { EXCLUDED_DEPARTEMENTS, type DvfOptions } from './options';
import type { Release } from './release';

/** One file of a release: a département's `<year>/departements/<dep>.csv.gz`, or `<year>/full.csv.gz`. */
export interface DvfFile {
  year: number;
  /** A département code, or `full`. */
  part: string;
}

export type FileOutcome =
  | { kind: 'written'; rows: number | null; bytes: number; revised: boolean }
  | { kind: 'unchanged'; how: 'listing' | 'validators' }
  | { kind: 'excluded' | 'not_found' };

export function fileLabel(file: DvfFile): string {
  return `${file.year}/${file.part}`;
}

function paths(release: Release, file: DvfFile): { url: string; key: string } {
  if (file.part === 'full')
    return {
      url: `${release.base}/${file.year}/full.csv.gz`,
      key: `${release.name}/${file.year}/full.csv.gz`,
    };
  return {
    url: `${release.base}/${file.year}/departements/${encodeURIComponent(file.part)}.csv.gz`,
    key: `${release.name}/${file.year}/departements/${file.part}.csv.gz`,
  };
}

/**
 * Brings one file up to date. With the release's listing (`listed`: the file's entry, undefined when
 * the listing lacks it), a file is fetched again when its size or date differs from the one stored for
 * this release: a release can be revised in place, without a new folder name (upstreams.md §1). Without
 * a listing (`listed` null), the server's ETag / Last-Modified and size decide, as a conditional GET.
 */
export async function syncFile(
  ctx: CollectorContext<DvfOptions>,
  upstream: UpstreamDeps,
  release: Release,
  file: DvfFile,
  listed: IndexEntry | undefined | null,
): Promise<FileOutcome> {
  if (listed === undefined) return { kind: missingKind(file) };
  const mark = await readMark(ctx.state, file.year, file.part);
  const sameRelease = release.source !== 'unresolved' && mark?.release === release.name;
  if (listed && sameRelease && mark && unchangedInListing(mark, listed)) {
    if (!mark.index) await writeMark(ctx.state, file.year, file.part, { ...mark, index: indexOf(listed) });
    return { kind: 'unchanged', how: 'listing' };
  }
  const { url, key } = paths(release, file);
  const outcome = await downloadFile(upstream, ctx.output, {
    url,
    key,
    countRows: ctx.options.count_rows,
    // Without a listing, the stored copy's validators make the request conditional.
    previous:
      listed === null && mark && (sameRelease || release.source === 'unresolved') ? mark.validators : null,
  });
  if (outcome.kind === 'missing') return { kind: missingKind(file) };
  if (outcome.kind === 'unchanged') return { kind: 'unchanged', how: 'validators' };
  const next: FileMark = {
    release: release.name,
    key,
    index: listed ? indexOf(listed) : null,
    validators: outcome.validators,
    bytes: outcome.object.bytes,
    md5: outcome.object.md5,
    rows: outcome.csv.rows,
    scheduledTime: ctx.scheduledTime.toISOString(),
  };
  await writeMark(ctx.state, file.year, file.part, next);
  ctx.log.info(`stored ${key}: ${outcome.csv.rows ?? 'uncounted'} rows, ${outcome.object.bytes} bytes`);
  return {
    kind: 'written',
    rows: outcome.csv.rows,
    bytes: outcome.object.bytes,
    // The same release's file again: revised in place.
    revised: sameRelease && mark !== null && mark.md5 !== outcome.object.md5,
  };
}

function missingKind(file: DvfFile): 'excluded' | 'not_found' {
  return EXCLUDED_DEPARTEMENTS.includes(file.part) ? 'excluded' : 'not_found';
}

function indexOf(entry: IndexEntry): { size: string | null; date: string | null } {
  return { size: entry.size, date: entry.date };
}

/** The listing shows the bytes already stored: same size and date, or (older marks) the same byte count. */
function unchangedInListing(mark: FileMark, listed: IndexEntry): boolean {
  if (mark.index) return sameListing(mark.index, listed);
  return listed.bytes !== null && listed.bytes === mark.bytes;
}
