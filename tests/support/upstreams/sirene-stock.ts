import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { crc32 } from 'node:zlib';
import { startServer, type TestServer } from '../http';
import { renderListing } from './dvf';
import { Faults } from './faults';

/**
 * A loopback files.data.gouv.fr `/insee-sirene/` folder: the monthly SIRENE stock files. Format facts:
 * - Dated copies `<YYYY-MM-DD>-StockEtablissement_utf8.zip` (and `StockUniteLegale_utf8.zip`) beside the
 *   undated latest `StockEtablissement_utf8.zip`: read so by the original Python collector's tests
 *   (`2024-06-01-StockEtablissement_utf8.zip` in an HTML listing), a Django import command
 *   (`2020-01-02-StockEtablissement_utf8.zip`) and a script fetching `2020-04-01-StockUniteLegale_utf8.zip`
 *   [S]. The listing markup is the one of the geo-dvf folders (renderListing).
 * - Each zip holds one CSV, `StockEtablissement_utf8.csv` (public R and Node clients unzip it so) [S];
 *   the real file is over 1 GB zipped (a client notes ~2 GB) [S].
 * - The zips here are generated on the fly, never held: a stored (method 0) entry with a data descriptor
 *   (APPNOTE 4.4.4 bit 3), CRC-32 computed as the bytes go out, then the central directory and the end
 *   record. `sent()` says how many bytes left the server, for bounded-buffer checks.
 */

export interface StockFile {
  /** The name served, dated or not. */
  name: string;
  /** Bytes of CSV inside the zip. */
  csvBytes: number;
  /** Makes the content differ between months. */
  seed: number;
}

export interface StockUpstream {
  url: string;
  baseUrl: string;
  server: TestServer;
  faults: Faults;
  /** Bytes of file bodies written to sockets so far (listings excluded). */
  sent(): number;
  /** The MD5 (hex) of the last file fully sent. */
  lastMd5(): string | null;
  zipSize(name: string): number;
  add(file: StockFile): void;
  fileRequests(): string[];
  close(): Promise<void>;
}

const CSV_HEADER =
  'siren,nic,siret,statutDiffusionEtablissement,dateCreationEtablissement,trancheEffectifsEtablissement,activitePrincipaleEtablissement,codeCommuneEtablissement,etatAdministratifEtablissement\n';
const CHUNK = 256 * 1024;

export async function startStockUpstream(
  files: StockFile[],
  options: { listing?: boolean } = {},
): Promise<StockUpstream> {
  const byName = new Map(files.map((f) => [f.name, f]));
  const faults = new Faults();
  let sent = 0;
  let lastMd5: string | null = null;

  const server = await startServer(async (req, res) => {
    const injected = await faults.apply(req, res);
    if (injected === true) return;
    const truncateAfter = typeof injected === 'object' ? injected.truncateAfter : Number.POSITIVE_INFINITY;
    const path = (req.url ?? '').split('?')[0] as string;
    if (path === '/insee-sirene/') {
      if (options.listing === false) return void res.writeHead(404).end('not found');
      const rows = [...byName.values()].map((f) => ({
        name: f.name,
        size: zipLength(f),
        date: `${f.name.slice(0, 10)} 06:00`,
      }));
      res.writeHead(200, { 'content-type': 'text/html' }).end(renderListing(path, rows, 'table'));
      return;
    }
    const file = byName.get(decodeURIComponent(path.replace(/^\/insee-sirene\//, '')));
    if (!file) return void res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>404</h1>');
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': zipLength(file) });
    const md5 = createHash('md5');
    let offset = 0;
    for (const whole of zipChunks(file)) {
      const chunk = whole.subarray(0, Math.max(0, truncateAfter - offset));
      md5.update(chunk);
      sent += chunk.length;
      offset += chunk.length;
      if (!(await write(res, chunk))) return;
      if (offset >= truncateAfter) return void res.socket?.destroy();
    }
    res.end();
    lastMd5 = md5.digest('hex');
  });

  return {
    url: server.url,
    baseUrl: `${server.url}/insee-sirene`,
    server,
    faults,
    sent: () => sent,
    lastMd5: () => lastMd5,
    zipSize: (name) => zipLength(byName.get(name)!),
    add: (file) => void byName.set(file.name, file),
    fileRequests: () => server.requests.map((r) => r.path).filter((p) => p.endsWith('.zip')),
    close: () => server.close(),
  };
}

/** Resolves false when the client went away. */
function write(res: ServerResponse, chunk: Buffer): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

function entryName(file: StockFile): string {
  return file.name.replace(/^\d{4}-\d{2}-\d{2}-/, '').replace(/\.zip$/, '.csv');
}

export function zipLength(file: StockFile): number {
  const n = Buffer.byteLength(entryName(file));
  return 30 + n + file.csvBytes + 16 + 46 + n + 22;
}

/** The CSV's bytes, `csvBytes` long, from a repeated block of rows. */
function* csvChunks(file: StockFile): Generator<Buffer> {
  const rows: string[] = [CSV_HEADER];
  let length = CSV_HEADER.length;
  for (let i = 0; length < CHUNK; i++) {
    const siren = String(100000000 + file.seed * 1000 + i).slice(0, 9);
    const row = `${siren},00012,${siren}00012,O,2001-0${1 + (i % 9)}-15,12,62.01Z,75056,A\n`;
    rows.push(row);
    length += row.length;
  }
  const block = Buffer.from(rows.join('')).subarray(0, CHUNK);
  for (let left = file.csvBytes; left > 0; left -= CHUNK)
    yield left >= CHUNK ? block : block.subarray(0, left);
}

function* zipChunks(file: StockFile): Generator<Buffer> {
  const name = Buffer.from(entryName(file));
  const time = 0x6000; // 12:00:00
  const date = ((2026 - 1980) << 9) | (11 << 5) | 1;
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(0x0008, 6); // sizes and CRC follow the data
  local.writeUInt16LE(0, 8); // stored
  local.writeUInt16LE(time, 10);
  local.writeUInt16LE(date, 12);
  local.writeUInt16LE(name.length, 26);
  yield Buffer.concat([local, name]);
  let crc = 0;
  for (const chunk of csvChunks(file)) {
    crc = crc32(chunk, crc);
    yield chunk;
  }
  const descriptor = Buffer.alloc(16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  descriptor.writeUInt32LE(crc >>> 0, 4);
  descriptor.writeUInt32LE(file.csvBytes, 8);
  descriptor.writeUInt32LE(file.csvBytes, 12);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0x0008, 8);
  central.writeUInt16LE(0, 10);
  central.writeUInt16LE(time, 12);
  central.writeUInt16LE(date, 14);
  central.writeUInt32LE(crc >>> 0, 16);
  central.writeUInt32LE(file.csvBytes, 20);
  central.writeUInt32LE(file.csvBytes, 24);
  central.writeUInt16LE(name.length, 28);
  const centralOffset = 30 + name.length + file.csvBytes + 16;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + name.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  yield Buffer.concat([descriptor, central, name, end]);
}
