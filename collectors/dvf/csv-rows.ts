import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { PermanentError } from '../../src/runtime/errors';

/** The 40 columns of a geo-dvf CSV, in order (data.gouv.fr "DVF géolocalisées"). */
export const DVF_COLUMNS: readonly string[] = [
  'id_mutation',
  'date_mutation',
  'numero_disposition',
  'nature_mutation',
  'valeur_fonciere',
  'adresse_numero',
  'adresse_suffixe',
  'adresse_nom_voie',
  'adresse_code_voie',
  'code_postal',
  'code_commune',
  'nom_commune',
  'code_departement',
  'ancien_code_commune',
  'ancien_nom_commune',
  'id_parcelle',
  'ancien_id_parcelle',
  'numero_volume',
  'lot1_numero',
  'lot1_surface_carrez',
  'lot2_numero',
  'lot2_surface_carrez',
  'lot3_numero',
  'lot3_surface_carrez',
  'lot4_numero',
  'lot4_surface_carrez',
  'lot5_numero',
  'lot5_surface_carrez',
  'nombre_lots',
  'code_type_local',
  'type_local',
  'surface_reelle_bati',
  'nombre_pieces_principales',
  'code_nature_culture',
  'nature_culture',
  'code_nature_culture_speciale',
  'nature_culture_speciale',
  'surface_terrain',
  'longitude',
  'latitude',
];

/** A header longer than this is not a geo-dvf header; stop looking for its end. */
const MAX_HEADER_BYTES = 4096;
/** Inflated bytes per chunk. */
const GUNZIP_CHUNK_BYTES = 1024 * 1024;
/**
 * Compressed bytes gathered before they go to gunzip. Each piece is one zlib call on the thread pool
 * and one callback back; a socket under load hands over pieces of a few KiB, and inflating in 8 KiB
 * pieces costs ~1.5x the CPU of 64 KiB ones (bench/streams; 256 KiB and up is flat).
 */
const GUNZIP_INPUT_BYTES = 256 * 1024;
const NEWLINE = 0x0a;
const QUOTE = 0x22;

/** What a gzipped geo-dvf CSV held, once it has been read to its end. */
export interface CsvStats {
  /** Data rows (the header excluded); null when only the header was checked. */
  rows: number | null;
  /** Bytes after gunzip; null when only the header was checked. */
  csvBytes: number | null;
}

/**
 * Counts the data rows of a gzipped geo-dvf CSV while its compressed bytes stream past on their way to
 * the store, and checks its header against the 40 documented columns, so the file is never held whole.
 * Quoted newlines are not row ends (RFC 4180), though geo-dvf has none today.
 */
export class GzipCsvInspector {
  private readonly input = new PassThrough({ highWaterMark: GUNZIP_CHUNK_BYTES });
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly done: Promise<void>;
  private failure: unknown = null;
  private header: Buffer[] = [];
  private headerBytes = 0;
  private headerChecked = false;
  private inQuotes = false;
  private lineHasContent = false;
  private newlines = 0;
  private csvBytes = 0;
  /** Header checked and rows not wanted: the rest of the file is not inflated. */
  private stopped = false;

  /** `countRows: false` checks the header only, sparing the inflation of a large file. */
  constructor(
    private readonly source: string,
    private readonly countRows = true,
  ) {
    const counter = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        try {
          this.scan(chunk);
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
    });
    // Large output chunks: inflating a national file in 16 KiB pieces spends more time in callbacks
    // and garbage collection than in zlib itself.
    this.done = pipeline(this.input, createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }), counter).catch(
      (error: unknown) => {
        if (this.stopped && !this.failure) return;
        this.failure ??= this.describe(error);
        throw this.failure;
      },
    );
    // Observed through `write`/`end`; this keeps an early failure from being reported as unhandled.
    this.done.catch(() => undefined);
  }

  /** Feeds compressed bytes; waits while gunzip is behind, so memory stays bounded. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.stopped) return;
    // A view, not a copy: the chunk goes on to the store unchanged, and gathering copies it once.
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.pendingBytes += chunk.byteLength;
    // The first bytes go at once, so a file that is not a geo-dvf CSV is refused early.
    if (this.pendingBytes < GUNZIP_INPUT_BYTES && this.headerChecked) return;
    if (this.input.write(this.takePending())) return;
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        this.input.off('drain', onDrain);
        this.input.off('close', onClose);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        // The pipeline's own rejection carries the reason (a bad header, a corrupt gzip).
        this.done.then(() => reject(new Error(`${this.source}: gunzip stopped early`)), reject);
      };
      this.input.on('drain', onDrain);
      this.input.on('close', onClose);
    });
    if (this.failure) throw this.failure;
  }

  /** Ends the input and resolves with the counts; rejects if the file was not a geo-dvf CSV. */
  async end(): Promise<CsvStats> {
    if (!this.stopped) {
      const last = this.takePending();
      if (last.length > 0) this.input.end(last);
      else this.input.end();
    }
    await this.done;
    if (this.stopped) return { rows: null, csvBytes: null };
    if (!this.headerChecked) this.checkHeader();
    const rows = this.newlines - 1 + (this.lineHasContent ? 1 : 0);
    return { rows: Math.max(0, rows), csvBytes: this.csvBytes };
  }

  /** Stops decompressing (the download failed or was aborted). */
  abort(): void {
    this.takePending();
    this.input.destroy();
  }

  private takePending(): Buffer {
    const batch = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return batch;
  }

  private scan(chunk: Buffer): void {
    this.csvBytes += chunk.length;
    let start = 0;
    if (!this.headerChecked) {
      const end = chunk.indexOf(NEWLINE);
      const part = end < 0 ? chunk : chunk.subarray(0, end);
      this.header.push(part);
      this.headerBytes += part.length;
      if (end < 0) {
        if (this.headerBytes > MAX_HEADER_BYTES) this.checkHeader();
        return;
      }
      this.checkHeader();
      if (!this.countRows) {
        this.stopped = true;
        this.input.destroy();
        return;
      }
      this.newlines = 1;
      this.lineHasContent = false;
      start = end + 1;
    }
    // Fast path: no quote in sight, so every newline ends a row.
    if (!this.inQuotes && chunk.indexOf(QUOTE, start) < 0) {
      let at = chunk.indexOf(NEWLINE, start);
      let last = start - 1;
      while (at >= 0) {
        this.newlines++;
        last = at;
        at = chunk.indexOf(NEWLINE, at + 1);
      }
      if (last < chunk.length - 1) this.lineHasContent = true;
      else if (last >= start) this.lineHasContent = false;
      return;
    }
    for (let i = start; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === QUOTE) this.inQuotes = !this.inQuotes;
      if (byte === NEWLINE && !this.inQuotes) {
        this.newlines++;
        this.lineHasContent = false;
      } else {
        this.lineHasContent = true;
      }
    }
  }

  private checkHeader(): void {
    this.headerChecked = true;
    const text = Buffer.concat(this.header)
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .replace(/\r$/, '');
    this.header = [];
    const columns = text.split(',');
    const problem = headerProblem(columns);
    if (problem) {
      throw new PermanentError(
        `${this.source} is not a geo-dvf CSV: ${problem}. The format may have changed upstream; check the dataset page before updating DVF_COLUMNS.`,
        { details: { source: this.source } },
        'UPSTREAM_INVALID',
      );
    }
  }

  private describe(error: unknown): unknown {
    if (error instanceof PermanentError) return error;
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      return new PermanentError(
        `${this.source} is not a valid gzip file (${code}: ${(error as Error).message})`,
        { cause: error },
        'UPSTREAM_INVALID',
      );
    }
    return error;
  }
}

/** What is wrong with a header, or null when it is exactly the 40 geo-dvf columns. */
export function headerProblem(columns: readonly string[]): string | null {
  if (columns.length === 1 && columns[0] === '') return 'the file is empty (no header line)';
  for (let i = 0; i < DVF_COLUMNS.length; i++) {
    if (columns[i] !== DVF_COLUMNS[i]) {
      return columns[i] === undefined
        ? `the header has ${columns.length} columns, expected ${DVF_COLUMNS.length} (missing "${DVF_COLUMNS[i]}")`
        : `header column ${i + 1} is "${columns[i]}", expected "${DVF_COLUMNS[i]}"`;
    }
  }
  if (columns.length > DVF_COLUMNS.length)
    return `the header has ${columns.length} columns, expected ${DVF_COLUMNS.length} (extra "${columns[DVF_COLUMNS.length]}")`;
  return null;
}
