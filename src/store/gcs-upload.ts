import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FileMetadata } from '@google-cloud/storage';
import { messageOfBody } from './gcs-errors';

/**
 * The bytes of a streamed write that the server has not confirmed yet, so a failed chunk can be sent
 * again without reading the source twice. The server's confirmation of each chunk releases it, so
 * this holds what the client has read ahead: one chunk plus ~8 MiB of the client's own buffering
 * (measured with the client alone too). Also keeps the md5 of everything read.
 */
export class Spool {
  /** Bytes before this offset are confirmed and released. */
  base = 0;
  /** Bytes read from the source so far. */
  pulled = 0;
  ended = false;
  /** What the source threw, if it did. */
  failure: { error: unknown } | null = null;
  private chunks: Buffer[] = [];
  private readonly iterator: AsyncIterator<Uint8Array | string>;
  private pulling: Promise<void> | null = null;
  private readonly hash = createHash('md5');
  private digest: Buffer | null = null;

  constructor(source: Readable | AsyncIterable<Uint8Array>) {
    this.iterator = (source as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  }

  /** Reads one more chunk from the source; concurrent callers share one read. */
  pull(): Promise<void> {
    this.pulling ??= (async () => {
      try {
        if (this.failure) throw this.failure.error;
        let next: IteratorResult<Uint8Array | string>;
        try {
          next = await this.iterator.next();
        } catch (error) {
          this.failure = { error };
          throw error;
        }
        if (next.done) {
          this.ended = true;
          return;
        }
        const value = next.value;
        const buf =
          typeof value === 'string'
            ? Buffer.from(value, 'utf8')
            : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
        if (buf.length === 0) return;
        this.chunks.push(buf);
        this.pulled += buf.length;
        this.hash.update(buf);
      } finally {
        this.pulling = null;
      }
    })();
    return this.pulling;
  }

  /** The server holds every byte before `offset`: release them. */
  confirm(offset: number): void {
    let drop = Math.min(offset, this.pulled) - this.base;
    while (drop > 0 && this.chunks.length > 0) {
      const head = this.chunks[0]!;
      const take = Math.min(drop, head.length);
      if (take === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(take);
      this.base += take;
      drop -= take;
    }
  }

  /** The source's bytes from `offset` (not yet released) to its end. */
  async *from(offset: number): AsyncGenerator<Buffer> {
    let position = offset;
    for (;;) {
      if (position < this.base) throw new Error(`bytes before ${this.base} were already released`);
      if (position < this.pulled) {
        let at = this.base;
        for (const chunk of this.chunks) {
          if (position < at + chunk.length) {
            const part = chunk.subarray(position - at);
            position += part.length;
            yield part;
            break;
          }
          at += chunk.length;
        }
      } else if (this.ended) {
        return;
      } else {
        await this.pull();
      }
    }
  }

  retained(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** The md5 of the whole source, once it has been read to the end. */
  md5(): Buffer {
    this.digest ??= this.hash.digest();
    return this.digest;
  }
}

/**
 * Asks a resumable session how much it holds (`Content-Range: bytes * /*`). The session URI is its
 * own credential, so this needs no Authorization header.
 */
export async function uploadStatus(
  uri: string,
  timeoutMs: number,
): Promise<{ received: number; done?: FileMetadata }> {
  const response = await fetch(uri, {
    method: 'PUT',
    headers: { 'content-range': 'bytes */*', 'content-length': '0' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  if (response.status === 308) {
    const confirmed = /bytes=0-(\d+)/.exec(response.headers.get('range') ?? '');
    return { received: confirmed ? Number(confirmed[1]) + 1 : 0 };
  }
  if (response.ok) return { received: 0, done: JSON.parse(text) as FileMetadata };
  throw Object.assign(new Error(messageOfBody(text) ?? `HTTP ${response.status}`), { code: response.status });
}
