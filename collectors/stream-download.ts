import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { networkCause } from '../src/util/network-errors';
import { excerpt } from '../src/util/read-body';
import { networkErrorCode, parseRetryAfter, policyFromConfig, retryResult } from '../src/util/retry';
import { errorMessage } from '../src/errors';
import type { ManifestObject } from '../src/runtime/contract';
import { PermanentError, UpstreamHttpError, UpstreamNetworkError } from '../src/runtime/errors';
import type { RawOutput, WriteOptions } from '../src/runtime/output';
import { UPSTREAM_RETRY, type UpstreamDeps } from '../src/runtime/upstream';
import { redactUrl } from '../src/util/url';
import { bodyExcerpt, discardBody, httpGet, type GetResponse } from './http-get';

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
  const result = await retryResult<StreamOutcome<T>, unknown>(
    async () => {
      try {
        return { ok: true, value: await streamOnce(deps, output, request) };
      } catch (error) {
        if (deps.signal.aborted) throw deps.signal.reason ?? error;
        return {
          ok: false,
          failure: error,
          retryable: isRetryable(error),
          retryAfterMs: error instanceof UpstreamHttpError ? error.retryAfterMs : null,
        };
      }
    },
    {
      policy: policyFromConfig(UPSTREAM_RETRY),
      clock: deps.clock,
      signal: deps.signal,
      ...(deps.random ? { random: deps.random } : {}),
      onRetry: ({ failure, attempt, delayMs }) =>
        deps.log.warn(`download failed, retrying in ${delayMs} ms`, {
          url: redactUrl(request.url),
          error: (failure as Error).message,
          attempt: attempt - 1,
        }),
    },
  );
  if (result.ok) return result.value;
  throw result.stop.kind === 'aborted' ? result.stop.reason : result.failure;
}

function isRetryable(error: unknown): boolean {
  if (error instanceof PermanentError) return false;
  if (error instanceof UpstreamHttpError || error instanceof UpstreamNetworkError) return error.retryable;
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
  const check = new InspectingStream(inspector, redactUrl(request.url), validators.contentLength);
  // The record count is only known once the stream has ended; RawOutput reads it then.
  const options: WriteOptions = {
    contentType: request.contentType,
    records: () => (check.inspected && request.records ? request.records(check.inspected.value) : null),
  };
  let object: ManifestObject;
  try {
    // The body's chunks go to the store as the socket delivers them, through the inspector; an error on
    // either side (a cut connection, the store failing) destroys both.
    object = await output.writeStream(
      request.key,
      pipeline(body, check, () => undefined),
      options,
    );
  } catch (error) {
    inspector.abort();
    throw error;
  }
  const done = check.inspected;
  if (!done) throw new Error(`internal: ${request.key} was stored before it was checked`);
  return { kind: 'written', object, validators, inspected: done.value };
}

/**
 * Passes the body on unchanged after the inspector has seen each chunk; at the end, checks the length
 * against Content-Length and lets the inspector conclude, before the store may publish the object.
 */
class InspectingStream<T> extends Transform {
  inspected: { value: T } | null = null;
  private received = 0;

  constructor(
    private readonly inspector: StreamInspector<T>,
    private readonly source: string,
    private readonly expected: number | null,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.received += chunk.length;
    this.inspector.write(chunk).then(() => done(null, chunk), done);
  }

  override _flush(done: TransformCallback): void {
    if (this.expected !== null && this.received !== this.expected) {
      // A body shorter than announced is a cut connection that happened to end cleanly.
      done(
        new Error(`GET ${this.source}: body ended after ${this.received} of ${this.expected} bytes`, {
          cause: Object.assign(new Error('short body'), { code: 'ECONNRESET' }),
        }),
      );
      return;
    }
    this.inspector.end().then((value) => {
      this.inspected = { value };
      done();
    }, done);
  }
}

/** The GET, conditional when validators are known: the body to store, or why there is none. */
async function open<T>(
  deps: UpstreamDeps,
  request: StreamRequest<T>,
): Promise<{ body: Readable; validators: FileValidators } | Exclude<StreamOutcome<T>, { kind: 'written' }>> {
  const { url, previous } = request;
  const headers: Record<string, string> = {
    accept: request.accept,
    // The compressed file is the object we store: no transparent decompression.
    'accept-encoding': 'identity',
  };
  if (previous?.etag) headers['if-none-match'] = previous.etag;
  if (previous?.lastModified) headers['if-modified-since'] = previous.lastModified;

  let response: GetResponse;
  try {
    response = await httpGet({ url, headers, signal: deps.signal });
  } catch (error) {
    if (deps.signal.aborted) throw deps.signal.reason ?? error;
    throw networkError(url, error);
  }
  if (response.status === 304) {
    discardBody(response);
    return { kind: 'unchanged', how: 'not-modified' };
  }
  if (response.status === 404 || response.status === 410) {
    discardBody(response);
    return { kind: 'missing', status: response.status };
  }
  if (response.status < 200 || response.status >= 300) {
    throw new UpstreamHttpError(
      'GET',
      url,
      response.status,
      excerpt(await bodyExcerpt(response)),
      parseRetryAfter(response.headers.get('retry-after'), deps.clock.now()),
    );
  }
  const validators = validatorsOf(response.headers);
  if (previous && sameFile(previous, validators)) {
    // A server that ignores conditional requests still tells us, in its headers, that nothing changed.
    discardBody(response);
    return { kind: 'unchanged', how: 'validators' };
  }
  return { body: response.body, validators };
}

/** A request that got no answer, named by its cause like `requestUpstream`'s; unknown causes are permanent. */
function networkError(url: string, error: unknown): Error {
  if (error instanceof PermanentError) return error;
  const cause = networkCause(error);
  if (cause) return new UpstreamNetworkError('GET', url, cause, error);
  return new PermanentError(`GET ${redactUrl(url)} failed: ${errorMessage(error)}`, { cause: error });
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
