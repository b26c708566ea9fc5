import type { File } from '@google-cloud/storage';
import type { Clock } from '../util/clock';
import { headerOf } from './gcs-errors';

/**
 * Time limits on Cloud Storage calls, on the store's clock. The client's own `timeout` stops waiting
 * for response headers, but a media download's body is a stream with no limit at all: a server that
 * sends its headers and then nothing would hang the read (and the lease or token read behind it) for
 * ever. These limits make every call end; the store's retry policy then decides what comes next.
 */

/** A call that took too long. Named like fetch's, so the store's retry policy sees a timeout. */
export class StoreCallTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** `work`, or a StoreCallTimeout after `ms` of the clock (the work itself is left to the client's timeout). */
export function withTimeout<T>(clock: Clock, ms: number, what: string, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = clock.schedule(ms, () =>
      reject(new StoreCallTimeout(`${what}: no answer within ${ms / 1000} s`)),
    );
    work.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error: unknown) => {
        cancel();
        reject(error);
      },
    );
  });
}

/**
 * Downloads an object whole, with the generation the server answered in `x-goog-generation`. It is
 * aborted (its connection closed) when `stallMs` of the clock pass with no headers or no new bytes, so
 * a slow but steady download of a large object still finishes.
 */
export function download(
  file: File,
  clock: Clock,
  stallMs: number,
): Promise<{ data: Buffer; generation: string | undefined }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let generation: string | undefined;
    const stream = file.createReadStream({ validation: 'crc32c' });
    let cancel = () => {};
    const arm = (after: string) => {
      cancel();
      cancel = clock.schedule(stallMs, () =>
        stream.destroy(new StoreCallTimeout(`download stalled: nothing ${after} for ${stallMs / 1000} s`)),
      );
    };
    arm('answered');
    stream
      .on('response', (response: { headers?: unknown }) => {
        generation = headerOf(response.headers, 'x-goog-generation');
        arm('received after the headers');
      })
      .on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        arm('more received');
      })
      .on('error', (error) => {
        cancel();
        reject(error);
      })
      .on('end', () => {
        cancel();
        resolve({ data: Buffer.concat(chunks), generation });
      });
  });
}
