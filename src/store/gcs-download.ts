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
 * abandoned when `stallMs` of the clock pass with no headers or no new bytes (so a slow but steady
 * download of a large object still finishes): the promise rejects at once, and the connection is
 * closed as soon as the client lets us (see `abandon`).
 */
export function download(
  file: File,
  clock: Clock,
  stallMs: number,
): Promise<{ data: Buffer; generation: string | undefined }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let generation: string | undefined;
    let settled = false;
    let cancel = () => {};
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      cancel();
      outcome();
    };
    const stream = file.createReadStream({ validation: 'crc32c' });
    // The client pipes the HTTP response into `stream` only once the response has arrived, with
    // stream.pipeline(). On Node >= 23 a pipeline into a stream already destroyed throws
    // ERR_STREAM_UNABLE_TO_PIPE (nodejs/node#53241) from inside the client's response handler, where
    // nobody can catch it: an uncaught exception, and the response left open. So the stream is
    // destroyed only after that pipeline exists ('pipe' is emitted as it connects); destroying it then
    // makes the client's own pipeline close the connection. A request with no answer yet cannot be
    // cancelled through the client at all (it ends with the client's `timeout`); its late answer is
    // closed when it comes.
    let piped = false;
    let abandoned: Error | null = null;
    stream.on('pipe', () => {
      piped = true;
      const reason = abandoned;
      if (reason !== null) process.nextTick(() => stream.destroy(reason));
    });
    const abandon = (error: Error) => {
      settle(() => reject(error));
      if (piped) stream.destroy(error);
      else abandoned = error;
    };
    const arm = (after: string) => {
      cancel();
      cancel = clock.schedule(stallMs, () =>
        abandon(new StoreCallTimeout(`download stalled: nothing ${after} for ${stallMs / 1000} s`)),
      );
    };
    arm('answered');
    stream
      .on('response', (response: { headers?: unknown }) => {
        if (settled) return;
        generation = headerOf(response.headers, 'x-goog-generation');
        arm('received after the headers');
      })
      .on('data', (chunk: Buffer) => {
        if (settled) return;
        chunks.push(chunk);
        arm('more received');
      })
      .on('error', (error) => settle(() => reject(error)))
      .on('end', () => settle(() => resolve({ data: Buffer.concat(chunks), generation })));
  });
}
