import { UpstreamHttpError } from '../src/runtime/errors';
import { requestUpstream, type UpstreamDeps } from '../src/runtime/upstream';

/**
 * The HTML folder listings of files.data.gouv.fr (geo-dvf, insee-sirene). Two markups have been served
 * over time (upstreams.md §1): an nginx "Index of" page, one `<a href="name">name</a>  date  size` line
 * per entry, and later a table, `<a href="…">name</a></td><td>size</td><td>date</td>` per row. Both give
 * each file's size and date, which is what tells a file revised in place (same name) from the one
 * already stored.
 */

export interface IndexEntry {
  /** The entry's name, without a trailing `/`. */
  name: string;
  isDirectory: boolean;
  /** The size as shown (bytes, or `12M` when the server rounds); null for folders or `-`. */
  size: string | null;
  /** The size in bytes, when the listing shows exact bytes. */
  bytes: number | null;
  /** The date as shown; compared as text, never parsed into a time zone. */
  date: string | null;
}

/** A listing is small; anything larger is not one. */
const MAX_INDEX_BYTES = 4 * 1024 * 1024;

const LINK = /<a\s[^>]*?href="([^"]*)"[^>]*>([\s\S]*?)<\/a>([\s\S]*?)(?=<a\s|<\/tr>|\r?\n|$)/gi;
const DATE =
  /\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?|\d{1,2}-[A-Za-z]{3}-\d{4} \d{2}:\d{2}(?::\d{2})?/;
const SIZE = /(?:^|\s)(\d+(?:[.,]\d+)?\s*(?:[KMGT]i?B?|bytes?|o|Ko|Mo|Go)?)(?=\s|$)/i;

/** The entries of a folder listing, in either markup; parent links, sort links and absolute URLs to other hosts are left out. */
export function parseIndex(html: string): IndexEntry[] {
  const entries: IndexEntry[] = [];
  const seen = new Set<string>();
  for (const match of html.matchAll(LINK)) {
    const href = decodeEntities(match[1] ?? '');
    if (href === '' || href.startsWith('?') || href.startsWith('#') || /^[a-z]+:/i.test(href)) continue;
    const path = href.split(/[?#]/)[0] as string;
    const isDirectory = path.endsWith('/');
    const name = safeDecode(path.replace(/\/+$/, '').split('/').pop() ?? '');
    if (name === '' || name === '..' || name === '.' || seen.has(name)) continue;
    seen.add(name);
    const rest = decodeEntities((match[3] ?? '').replace(/<[^>]*>/g, ' '));
    const date = DATE.exec(rest)?.[0] ?? null;
    const sizeText = SIZE.exec(date ? rest.replace(date, ' ') : rest)?.[1]?.trim() ?? null;
    entries.push({
      name,
      isDirectory,
      size: isDirectory ? null : sizeText,
      bytes: !isDirectory && sizeText && /^\d+$/.test(sizeText) ? Number(sizeText) : null,
      date,
    });
  }
  return entries;
}

/** Two listings show the same bytes: same size and same date (the revision check). */
export function sameListing(
  a: Pick<IndexEntry, 'size' | 'date'>,
  b: Pick<IndexEntry, 'size' | 'date'>,
): boolean {
  return a.size !== null && a.size === b.size && a.date === b.date;
}

/**
 * Fetches and parses one folder listing. Null when the folder does not exist (404); other failures
 * (after the usual retries) are thrown for the caller to decide whether the listing was needed.
 */
export async function readIndex(deps: UpstreamDeps, url: string): Promise<IndexEntry[] | null> {
  try {
    const response = await requestUpstream(deps, {
      url: url.endsWith('/') ? url : `${url}/`,
      headers: { accept: 'text/html' },
      maxBytes: MAX_INDEX_BYTES,
    });
    return parseIndex(response.body.toString('utf8'));
  } catch (error) {
    if (error instanceof UpstreamHttpError && (error.status === 404 || error.status === 410)) return null;
    throw error;
  }
}

function decodeEntities(text: string): string {
  return text
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
