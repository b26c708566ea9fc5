import { PermanentError } from '../../src/runtime/errors';
import type { StreamInspector } from '../stream-download';

/** A local file header starts every zip (APPNOTE 4.3.7). */
const LOCAL_HEADER = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
/** The end of central directory record ends it (APPNOTE 4.3.16), followed only by a comment. */
const END_OF_DIRECTORY = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
/** Kept of the stream's end to find that record: its 22 bytes and a short comment. */
const TAIL_BYTES = 1024;

export interface ZipStats {
  bytes: number;
}

/**
 * Checks, as the bytes go by, that a download is a whole zip: it starts with a local file header and
 * ends with an end-of-central-directory record. Holds only the first 4 and the last 1024 bytes, so a
 * 1 GB+ stock file passes in constant memory; a cut or an HTML error page is refused before it is stored.
 */
export class ZipInspector implements StreamInspector<ZipStats> {
  private head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private bytes = 0;

  constructor(private readonly source: string) {}

  async write(chunk: Uint8Array): Promise<void> {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.bytes += buf.length;
    if (this.head.length < LOCAL_HEADER.length) {
      this.head = Buffer.concat([this.head, buf.subarray(0, LOCAL_HEADER.length - this.head.length)]);
      if (this.head.length === LOCAL_HEADER.length && !this.head.equals(LOCAL_HEADER))
        throw this.invalid('it does not start like a zip file');
    }
    this.tail =
      buf.length >= TAIL_BYTES
        ? Buffer.from(buf.subarray(buf.length - TAIL_BYTES))
        : Buffer.concat([this.tail, buf]).subarray(-TAIL_BYTES);
  }

  async end(): Promise<ZipStats> {
    if (this.bytes < LOCAL_HEADER.length || !this.head.equals(LOCAL_HEADER))
      throw this.invalid('it does not start like a zip file');
    if (this.tail.lastIndexOf(END_OF_DIRECTORY) < 0)
      throw this.invalid('its end of central directory is missing (cut short?)');
    return { bytes: this.bytes };
  }

  abort(): void {
    this.tail = Buffer.alloc(0);
  }

  private invalid(why: string): PermanentError {
    return new PermanentError(`${this.source} is not a whole zip file: ${why}`, {}, 'UPSTREAM_INVALID');
  }
}
