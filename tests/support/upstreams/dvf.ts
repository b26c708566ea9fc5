import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DVF_COLUMNS } from '../../../collectors/dvf/csv-rows';
import { startServer, type TestServer } from '../http';
import { Faults, writeChunked } from './faults';

/**
 * A loopback files.data.gouv.fr serving geo-dvf as Etalab lays it out. Each format fact, with its source:
 * - Layout `geo-dvf/<release>/csv/<year>/departements/<dep>.csv.gz` and `<year>/full.csv.gz`, as written
 *   by the producer script (`datagouv/dvf` improve-csv.js; upstreams.md §1).
 * - Release folders `YYYY-MM` next to a `latest` alias (etalab/DVF-app#105); `YYYY-MM-DD` folders are
 *   accepted by one public client (a Python "cartographie-dvf" client's `_MILLESIME` pattern) [S].
 * - Folder listings in two markups: the nginx "Index of" page (`<a href="x">x</a>  02-Apr-2025 10:00
 *   1234`) seen in 2021, and a table (`<a href="…">name</a></td><td>size</td><td>date</td>`) parsed by
 *   that client (upstreams.md §1 [S]). Both show each file's size in bytes and its date.
 * - A release revised in place keeps its folder name; only the listing's size and date change
 *   (upstreams.md §1 [S, one client]): `revise()` does that.
 * - Alsace-Moselle (57, 67, 68) and Mayotte (976) are not published (Cerema DV3F guide): no file, and a
 *   404 if asked; so are years outside the release.
 * - The 40-column CSV header of data.gouv.fr's "DVF géolocalisées" page.
 * - No ETag / Last-Modified by default: whether files.data.gouv.fr sends them is unverified
 *   (upstreams.md §1 [I]); `validators: true` sends them, for the no-listing fallback.
 */

export interface DvfFile {
  gz: Buffer;
  rows: number;
  etag: string;
  lastModified: string;
  /** The listing's date for the file (changes when the file is revised). */
  listedDate: string;
}

export interface DvfUpstreamOptions {
  /** Published releases, oldest first; `latest` aliases the last one. */
  releases?: string[];
  /** Years each release carries. */
  years?: number[];
  /** Data rows of a file; default 3 to 7, varying with the département. */
  rows?: (release: string, year: number, dep: string) => number;
  /** Serve folder listings (files.data.gouv.fr does; a mirror may not). */
  listing?: boolean;
  /** Listing markup: nginx "Index of" (default) or the later table. */
  indexFormat?: 'nginx' | 'table';
  /** Send ETag / Last-Modified, and honour If-None-Match / If-Modified-Since with 304. */
  validators?: boolean;
  conditional?: boolean;
  /** Replace the CSV header (to test a format change). */
  header?: string;
  /** gzip level; 0 stores the CSV uncompressed inside the gzip framing (large files, fast). */
  gzipLevel?: number;
}

export interface DvfUpstream {
  url: string;
  /** The base_url option pointing at this server's `latest`. */
  baseUrl: string;
  server: TestServer;
  faults: Faults;
  /** Publishes a new release (it becomes `latest`). */
  publish(release: string): void;
  /** Re-publishes one file of a release in place: new bytes, new size and date in the listing. */
  revise(release: string, year: number, dep: string): void;
  file(release: string, year: number, dep: string): DvfFile;
  /** File requests (not listings) seen so far. */
  fileRequests(): string[];
  /** Holds the body of the next file served after `bytes` until `until` resolves. */
  pauseNextFile(bytes: number, until: Promise<void>): void;
  close(): Promise<void>;
}

const EXCLUDED = new Set(['57', '67', '68', '976']);
const SERVED_DEPARTEMENTS = ['01', '13', '2A', '33', '44', '57', '75', '92', '971'];
const FILE = /^\/geo-dvf\/([^/]+)\/csv\/(\d{4})\/(?:departements\/([0-9AB]{2,3})|(full))\.csv\.gz$/;
const LISTING = /^\/geo-dvf\/(?:([^/]+)\/csv\/(?:(\d{4})\/(departements\/)?)?)?$/;

export async function startDvfUpstream(options: DvfUpstreamOptions = {}): Promise<DvfUpstream> {
  const releases = [...(options.releases ?? ['2025-04'])];
  const years = options.years ?? [2023, 2024, 2025];
  const faults = new Faults();
  const cache = new Map<string, DvfFile>();
  const revisions = new Map<string, number>();
  let pause: { bytes: number; until: Promise<void> } | null = null;

  const file = (release: string, year: number, dep: string): DvfFile => {
    const id = `${release}/${year}/${dep}`;
    const revision = revisions.get(id) ?? 0;
    let cached = cache.get(`${id}#${revision}`);
    if (!cached) {
      const rows = (options.rows?.(release, year, dep) ?? 3 + (parseInt(dep, 36) % 5)) + revision;
      const csv = dvfCsv(year, dep === 'full' ? '75' : dep, dep === 'full' ? rows * 4 : rows, options.header);
      const gz = gzipSync(csv, { level: options.gzipLevel ?? 6 });
      const day = 2 + revision;
      const published = new Date(
        Date.UTC(Number(release.slice(0, 4)), Number(release.slice(5, 7)) - 1, day, 10),
      );
      cached = {
        gz,
        rows: dep === 'full' ? rows * 4 : rows,
        etag: `"${createHash('md5').update(gz).digest('hex')}"`,
        lastModified: published.toUTCString(),
        listedDate: listingDate(published, options.indexFormat ?? 'nginx'),
      };
      cache.set(`${id}#${revision}`, cached);
    }
    return cached;
  };
  const resolve = (name: string | undefined) => (name === 'latest' ? releases[releases.length - 1] : name);

  const server = await startServer(async (req, res) => {
    const path = (req.url ?? '').split('?')[0] as string;
    const injected = await faults.apply(req, res);
    if (injected === true) return;
    const truncateAfter = typeof injected === 'object' ? injected.truncateAfter : undefined;
    const notFound = (): void => {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>404 Not Found</h1>');
    };

    const list = LISTING.exec(path);
    if (list) {
      if (options.listing === false) return notFound();
      const release = resolve(list[1]);
      if (list[1] !== undefined && (!release || !releases.includes(release))) return notFound();
      const year = list[2] === undefined ? null : Number(list[2]);
      if (year !== null && !years.includes(year)) return notFound();
      let rows: ListingRow[];
      if (!release)
        rows = [...releases, 'latest'].map((r) => ({ name: `${r}/`, size: null, date: '02-Apr-2025 10:00' }));
      else if (year === null)
        rows = years.map((y) => ({ name: `${y}/`, size: null, date: '02-Apr-2025 10:00' }));
      else if (!list[3]) {
        const full = file(release, year, 'full');
        rows = [
          { name: 'communes/', size: null, date: full.listedDate },
          { name: 'departements/', size: null, date: full.listedDate },
          { name: 'full.csv.gz', size: full.gz.length, date: full.listedDate },
        ];
      } else {
        rows = SERVED_DEPARTEMENTS.filter((d) => !EXCLUDED.has(d)).map((d) => {
          const f = file(release, year, d);
          return { name: `${d}.csv.gz`, size: f.gz.length, date: f.listedDate };
        });
      }
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(renderListing(path, rows, options.indexFormat ?? 'nginx'));
      return;
    }

    const match = FILE.exec(path);
    const requested = resolve(match?.[1]);
    if (!match || !requested || !releases.includes(requested)) return notFound();
    const year = Number(match[2]);
    const dep = (match[3] ?? match[4]) as string;
    if (EXCLUDED.has(dep) || !years.includes(year)) return notFound();
    const served = file(requested, year, dep);
    const validators = options.validators === true;
    if (
      validators &&
      options.conditional !== false &&
      (req.headers['if-none-match'] === served.etag ||
        req.headers['if-modified-since'] === served.lastModified)
    ) {
      res.writeHead(304, { etag: served.etag }).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/gzip',
      'content-length': served.gz.length,
      ...(validators ? { etag: served.etag, 'last-modified': served.lastModified } : {}),
    });
    const pauseAfter = pause ?? undefined;
    pause = null;
    await writeChunked(res, served.gz, {
      ...(truncateAfter !== undefined ? { truncateAfter } : {}),
      ...(pauseAfter ? { pauseAfter } : {}),
    });
  });

  return {
    url: server.url,
    baseUrl: `${server.url}/geo-dvf/latest/csv`,
    server,
    faults,
    publish: (release) => {
      releases.push(release);
    },
    revise: (release, year, dep) => {
      const id = `${release}/${year}/${dep}`;
      revisions.set(id, (revisions.get(id) ?? 0) + 1);
    },
    file: (release, year, dep) => file(release, year, dep),
    fileRequests: () => server.requests.map((r) => r.path).filter((p) => FILE.test(p)),
    pauseNextFile: (bytes, until) => {
      pause = { bytes, until };
    },
    close: () => server.close(),
  };
}

interface ListingRow {
  name: string;
  size: number | null;
  date: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function listingDate(d: Date, format: 'nginx' | 'table'): string {
  const p = (n: number) => String(n).padStart(2, '0');
  if (format === 'table')
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  return `${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
}

/** A folder listing in one of the two markups files.data.gouv.fr has served (see the header). */
export function renderListing(path: string, rows: ListingRow[], format: 'nginx' | 'table'): string {
  if (format === 'table') {
    const body = rows
      .map(
        (r) =>
          `<tr><td><a href="${path}${r.name}">${r.name}</a></td><td>${r.size ?? '-'}</td><td>${r.date}</td></tr>`,
      )
      .join('\n');
    return `<!doctype html><html><head><title>${path}</title></head><body><table><thead><tr><th>Nom</th><th>Taille</th><th>Date</th></tr></thead><tbody>\n<tr><td><a href="../">../</a></td><td></td><td></td></tr>\n${body}\n</tbody></table></body></html>`;
  }
  const lines = rows.map(
    (r) =>
      `<a href="${r.name}">${r.name}</a>${' '.repeat(Math.max(1, 50 - r.name.length))}${r.date}${' '.repeat(8)}${r.size ?? '-'}`,
  );
  return `<html><head><title>Index of ${path}</title></head><body><h1>Index of ${path}</h1><hr><pre><a href="../">../</a>\n${lines.join('\n')}\n</pre><hr></body></html>`;
}

/** A geo-dvf CSV: the documented header and `rows` plausible rows (some with quoted fields). */
export function dvfCsv(year: number, dep: string, rows: number, header = DVF_COLUMNS.join(',')): string {
  const lines = [header];
  for (let i = 1; i <= rows; i++) lines.push(dvfRow(year, dep, i));
  return lines.join('\n') + '\n';
}

export function dvfRow(year: number, dep: string, i: number): string {
  const commune = `${dep.padEnd(2, '0').slice(0, 2)}${String(100 + (i % 800)).padStart(3, '0')}`;
  const fields = [
    `${year}-${i}`,
    `${year}-07-${String(1 + (i % 28)).padStart(2, '0')}`,
    '000001',
    'Vente',
    String(100000 + i * 37),
    String(i % 120),
    '',
    // Quoted fields, one with a newline inside: neither may count as a row end.
    i % 7 === 0 ? '"RUE DE LA PAIX, PROLONGEE"' : i % 11 === 0 ? '"RUE DE\nLA PAIX"' : 'RUE DE LA PAIX',
    'B064',
    '01560',
    commune,
    'Commune-Test',
    dep,
    '',
    '',
    `${commune}000AB${String(i % 10000).padStart(4, '0')}`,
    '',
    '',
    i % 3 === 0 ? '12A' : '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '0',
    '2',
    'Appartement',
    String(20 + (i % 100)),
    String(1 + (i % 6)),
    'S',
    'sols',
    '',
    '',
    String(i % 500),
    (2.3 + (i % 1000) / 10000).toFixed(6),
    (48.8 + (i % 1000) / 10000).toFixed(6),
  ];
  return fields.join(',');
}
