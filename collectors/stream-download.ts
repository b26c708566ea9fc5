import { excerpt } from '../src/util/read-body';
import { backoffDelayMs, networkErrorCode, parseRetryAfter } from '../src/util/retry';
import type { ManifestObject } from '../src/runtime/contract';
import { PermanentError, UpstreamHttpError } from '../src/runtime/errors';
import type { RawOutput, WriteOptions } from '../src/runtime/output';
import { UPSTREAM_RETRY, type UpstreamDeps } from '../src/runtime/upstream';
import { redactUrl } from '../src/util/url';

/**
 * Streams one large file from an upstream into the raw store, chunk by chunk, while an inspector checks
 * (and counts) what passes: the body is never held whole, whatever its size. Retries like
 * `requestUpstream` (network errors, 408, 429 with Retry-After, 5xx) and restarts a file whose body
 * breaks off mid-way: the store only publishes an object once its stream completed.
 */

/** What checks a file on its way to the store; `end` resolves with what it learnt, or rejects. */
export interface StreamInspector<T> {
  write(chunk: Uint8Array): Promise<void>;
  end(): Promise<T>;
  /** The download failed or was aborted: stop and free what is held. */
  abort(): void;
}

/** What the server said about a file, to recognise it next time without downloading it. */
export interface FileValidators {
  etag: string | null;
  lastModified: string | null;
  contentLength: number | null;
}

export type StreamOutcome<T> =
  | { kind: 'written'; object: ManifestObject; validators: FileValidators; inspected: T }
  /** `not-modified`: the server answered 304; `validators`: its ETag / Last-Modified+size match. */
  | { kind: 'unchanged'; how: 'not-modified' | 'validators' }
  | { kind: 'missing'; status: number };

export interface StreamRequest<T> {
  url: string;
  key: string;
  contentType: string;
  accept: string;
  /** When given, the download is conditional on the file having changed since. */
  previous?: FileValidators | null;
  inspector: () => StreamInspector<T>;
  /** The manifest's record count, once the inspector is done. */
  records?: (inspected: T) => number | null;
}

export async function streamToStore<T>(
  deps: UpstreamDeps,
  output: RawOutput,
  request: StreamRequest<T>,
): Promise<StreamOutcome<T>> {
  const policy = UPSTREAM_RETRY;
  for (let attempt = 1; ; attempt++) {
    try {
      return await streamOnce(deps, output, request);
    } catch (error) {
      if (deps.signal.aborted) throw deps.signal.reason ?? error;
      if (!isRetryable(error) || attempt >= policy.attempts) throw error;
      const delayMs =
        (error instanceof UpstreamHttpError ? error.retryAfterMs : null) ??
        backoffDelayMs(attempt, policy, deps.random);
      deps.log.warn(`download failed, retrying in ${delayMs} ms`, {
        url: redactUrl(request.url),
        error: (error as Error).message,
        attempt,
      });
      await deps.clock.sleep(delayMs, deps.signal);
    }
  }
}

function isRetryable(error: unknown): boolean {
  if (error instanceof PermanentError) return false;
  if (error instanceof UpstreamHttpError) return error.retryable;
  return networkErrorCode(error) !== null;
}

async function streamOnce<T>(
  deps: UpstreamDeps,
  output: RawOutput,
  request: StreamRequest<T>,
): Promise<StreamOutcome<T>> {
  const opened = await open(deps, request);
  if ('kind' in opened) return opened;
  const { body, validators } = opened;
  const inspector = request.inspector();
  const url = request.url;
  const expected = validators.contentLength;
  let inspected: { value: T } | null = null;
  // The record count is only known once the stream has ended; RawOutput reads it then.
  const options: WriteOptions = {
    contentType: request.contentType,
    records: () => (inspected && request.records ? request.records(inspected.value) : null),
  };
  async function* checked(): AsyncGenerator<Uint8Array> {
    let finished = false;
    let received = 0;
    try {
      for await (const chunk of body) {
        received += chunk.byteLength;
        await inspector.write(chunk);
        yield chunk;
      }
      if (expected !== null && received !== expected) {
        // A body shorter than announced is a cut connection that happened to end cleanly.
        throw new Error(`GET ${redactUrl(url)}: body ended after ${received} of ${expected} bytes`, {
          cause: Object.assign(new Error('short body'), { code: 'ECONNRESET' }),
        });
      }
      inspected = { value: await inspector.end() };
      finished = true;
    } finally {
      if (!finished) inspector.abort();
    }
  }
  const object = await output.writeStream(request.key, checked(), options);
  const done = inspected as { value: T } | null;
  if (!done) throw new Error(`internal: ${request.key} was stored before it was checked`);
  return { kind: 'written', object, validators, inspected: done.value };
}

/** The GET, conditional when validators are known: the body to store, or why there is none. */
async function open<T>(
  deps: UpstreamDeps,
  request: StreamRequest<T>,
): Promise<
  | { body: ReadableStream<Uint8Array>; validators: FileValidators }
  | Exclude<StreamOutcome<T>, { kind: 'written' }>
> {
  const { url, previous } = request;
  const headers: Record<string, string> = {
    accept: request.accept,
    // The compressed file is the object we store: no transparent decompression by fetch.
    'accept-encoding': 'identity',
  };
  if (previous?.etag) headers['if-none-match'] = previous.etag;
  if (previous?.lastModified) headers['if-modified-since'] = previous.lastModified;

  let response: Response;
  try {
    response = await deps.fetch(url, { headers, signal: deps.signal });
  } catch (error) {
    if (deps.signal.aborted) throw deps.signal.reason ?? error;
    const code = networkErrorCode(error);
    const message = `GET ${redactUrl(url)} failed: ${code ?? (error as Error).message}`;
    if (!code) throw new PermanentError(message, { cause: error });
    throw new Error(message, { cause: error });
  }
  if (response.status === 304) {
    await discard(response);
    return { kind: 'unchanged', how: 'not-modified' };
  }
  if (response.status === 404 || response.status === 410) {
    await discard(response);
    return { kind: 'missing', status: response.status };
  }
  if (response.status < 200 || response.status >= 300) {
    throw new UpstreamHttpError(
      'GET',
      url,
      response.status,
      await errorExcerpt(response),
      parseRetryAfter(response.headers.get('retry-after'), deps.clock.now()),
    );
  }
  const validators = validatorsOf(response.headers);
  if (previous && sameFile(previous, validators)) {
    // A server that ignores conditional requests still tells us, in its headers, that nothing changed.
    await discard(response);
    return { kind: 'unchanged', how: 'validators' };
  }
  if (!response.body) {
    throw new PermanentError(
      `GET ${redactUrl(url)} answered ${response.status} with no body`,
      {},
      'UPSTREAM_INVALID',
    );
  }
  return { body: response.body, validators };
}

export function validatorsOf(headers: Headers): FileValidators {
  const length = Number(headers.get('content-length'));
  return {
    etag: headers.get('etag'),
    lastModified: headers.get('last-modified'),
    contentLength: headers.has('content-length') && Number.isFinite(length) ? length : null,
  };
}

/** True when the validators identify the same bytes: equal strong ETags, else equal date and size. */
export function sameFile(a: FileValidators, b: FileValidators): boolean {
  if (a.etag && b.etag) return a.etag.replace(/^W\//, '') === b.etag.replace(/^W\//, '');
  if (a.lastModified && b.lastModified && a.contentLength !== null && b.contentLength !== null)
    return a.lastModified === b.lastModified && a.contentLength === b.contentLength;
  return false;
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/** The first bytes of an error body, for the message; the rest is not worth downloading. */
async function errorExcerpt(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < 2048) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body that breaks off is still an error status; the status is what matters.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return excerpt(Buffer.concat(chunks));
}
