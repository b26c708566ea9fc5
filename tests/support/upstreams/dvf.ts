import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DVF_COLUMNS } from '../../../collectors/dvf/csv-rows';
import { startServer, type TestServer } from '../http';
import { Faults, writeChunked } from './faults';

/**
 * A loopback files.data.gouv.fr serving geo-dvf as Etalab lays it out (upstreams.md §1):
 * `/geo-dvf/` (an HTML folder listing), `/geo-dvf/<YYYY-MM|latest>/csv/<year>/departements/<dep>.csv.gz`
 * (gzipped CSV with the 40 documented columns). Alsace-Moselle (57, 67, 68) and Mayotte (976) answer
 * 404, as do years outside the release's window.
 */

export interface DvfFile {
  gz: Buffer;
  rows: number;
  etag: string;
  lastModified: string;
}

export interface DvfUpstreamOptions {
  /** Published releases, oldest first; `latest` aliases the last one. */
  releases?: string[];
  /** Years each release carries. */
  years?: number[];
  /** Data rows of a file; default 3 to 7, varying with the département. */
  rows?: (release: string, year: number, dep: string) => number;
  /** Serve the `/geo-dvf/` listing (files.data.gouv.fr does; a mirror may not). */
  listing?: boolean;
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
  file(release: string, year: number, dep: string): DvfFile;
  /** File requests (not the listing) seen so far. */
  fileRequests(): string[];
  /** Holds the body of the next file served after `bytes` until `until` resolves. */
  pauseNextFile(bytes: number, until: Promise<void>): void;
  close(): Promise<void>;
}

const EXCLUDED = new Set(['57', '67', '68', '976']);
const FILE = /^\/geo-dvf\/([^/]+)\/csv\/(\d{4})\/departements\/([0-9AB]{2,3})\.csv\.gz$/;

export async function startDvfUpstream(options: DvfUpstreamOptions = {}): Promise<DvfUpstream> {
  const releases = [...(options.releases ?? ['2025-04'])];
  const years = new Set(options.years ?? [2023, 2024, 2025]);
  const faults = new Faults();
  const cache = new Map<string, DvfFile>();
  let pause: { bytes: number; until: Promise<void> } | null = null;

  const file = (release: string, year: number, dep: string): DvfFile => {
    const id = `${release}/${year}/${dep}`;
    let cached = cache.get(id);
    if (!cached) {
      const rows = options.rows?.(release, year, dep) ?? 3 + (parseInt(dep, 36) % 5);
      const csv = dvfCsv(year, dep, rows, options.header);
      const gz = gzipSync(csv, { level: options.gzipLevel ?? 6 });
      cached = {
        gz,
        rows,
        etag: `"${createHash('md5').update(gz).digest('hex')}"`,
        lastModified: new Date(
          Date.UTC(Number(release.slice(0, 4)), Number(release.slice(5, 7)) - 1, 2),
        ).toUTCString(),
      };
      cache.set(id, cached);
    }
    return cached;
  };

  const server = await startServer(async (req, res) => {
    const path = (req.url ?? '').split('?')[0] as string;
    const injected = await faults.apply(req, res);
    if (injected === true) return;
    const truncateAfter = typeof injected === 'object' ? injected.truncateAfter : undefined;

    if (path === '/geo-dvf/' && options.listing !== false) {
      const html = `<html><head><title>Index of /geo-dvf/</title></head><body><h1>Index of /geo-dvf/</h1><hr><pre><a href="../">../</a>\n${[
        ...releases,
        'latest',
      ]
        .map((r) => `<a href="${r}/">${r}/</a>                                 02-Apr-2025 10:00       -`)
        .join('\n')}\n</pre><hr></body></html>`;
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
      return;
    }
    const match = FILE.exec(path);
    const requested = match?.[1] === 'latest' ? releases[releases.length - 1] : match?.[1];
    if (!match || !requested || !releases.includes(requested)) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>404 Not Found</h1>');
      return;
    }
    const year = Number(match[2]);
    const dep = match[3] as string;
    if (EXCLUDED.has(dep) || !years.has(year)) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>404 Not Found</h1>');
      return;
    }
    const served = file(requested, year, dep);
    const validators = options.validators !== false;
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
    file,
    fileRequests: () => server.requests.map((r) => r.path).filter((p) => FILE.test(p)),
    pauseNextFile: (bytes, until) => {
      pause = { bytes, until };
    },
    close: () => server.close(),
  };
}

/** A geo-dvf CSV: the documented header and `rows` plausible rows (some with quoted fields). */
export function dvfCsv(year: number, dep: string, rows: number, header = DVF_COLUMNS.join(',')): string {
  const lines = [header];
  for (let i = 1; i <= rows; i++) {
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
    lines.push(fields.join(','));
  }
  return lines.join('\n') + '\n';
}
