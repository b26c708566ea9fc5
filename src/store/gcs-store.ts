import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Storage, type Bucket, type FileMetadata } from '@google-cloud/storage';
import { assertGoogleCredentials } from '../auth/credentials';
import { SchedulerError } from '../errors';
import { systemClock, type Clock } from '../util/clock';
import { bucketMissing, headerOf, NotRetried, ObjectChanged, safeCause, statusOf } from './gcs-errors';
import { retryingCall } from './gcs-retry';
import { download, withTimeout } from './gcs-download';
import { Spool, uploadStatus } from './gcs-upload';
import type { StoreLocation } from './location';
import {
  checkKey,
  PreconditionFailedError,
  type Generation,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoredObject,
  type WriteResult,
} from './types';

/** How the store retries transient failures (429, 5xx, connection resets, timeouts). */
export interface GcsRetryOptions {
  /** Give up with STORE_UNAVAILABLE rather than wait past this, counted from an operation's first attempt. @default 30_000 */
  budgetMs?: number;
  /** Ceiling of the first full-jitter wait; it doubles per failure. @default 250 */
  minBackoffMs?: number;
  /** Largest ceiling of one wait. @default 8_000 */
  maxBackoffMs?: number;
}

export interface GcsStoreOptions {
  /** A Cloud Storage JSON API endpoint (a test server); STORAGE_EMULATOR_HOST also works, read by the client. */
  apiEndpoint?: string;
  projectId?: string;
  clock?: Clock;
  retry?: GcsRetryOptions;
  random?: () => number;
  /** Per-request timeout of uploads (a resumable upload's chunk is one request). @default 60_000 */
  requestTimeoutMs?: number;
  /**
   * A download with no answer or no new bytes for this long, or a metadata read, list page or delete
   * not answered within it, is abandoned and retried (within the retry budget). @default 15_000
   */
  stallTimeoutMs?: number;
  /**
   * Streams go up in resumable chunks of this size (a multiple of 256 KiB); a failed one is sent again
   * from the byte the server confirmed. A stream or buffer no larger than one chunk is sent in one
   * multipart request instead. A streaming write holds about one chunk plus the client's own
   * read-ahead (measured ~8 MiB) in memory. @default 8 MiB
   */
  uploadChunkBytes?: number;
  /** Items asked for per list page (the API's maximum is 1000). @default 1000 */
  listPageSize?: number;
}

export const GCS_RETRY_DEFAULTS: Required<GcsRetryOptions> = {
  budgetMs: 30_000,
  minBackoffMs: 250,
  maxBackoffMs: 8_000,
};
const KIB_256 = 256 * 1024;
const UPLOAD_CHUNK_DEFAULT = 32 * KIB_256;
/** Custom metadata naming the conditional write that produced an object (see `put`). */
const WRITE_ID = 'scheduler-write-id';

interface Settings {
  clock: Clock;
  random: () => number;
  retry: Required<GcsRetryOptions>;
  chunkBytes: number;
  pageSize: number;
  timeoutMs: number;
  stallMs: number;
}

/**
 * Opens the store for a `gs://bucket/prefix` location. Against real Google (no apiEndpoint, no
 * STORAGE_EMULATOR_HOST) credentials are checked first, so their absence is one AUTH_NO_CREDENTIALS
 * error rather than a network failure on the first call.
 */
export async function openGcsStore(
  location: StoreLocation & { kind: 'gcs' },
  options: GcsStoreOptions = {},
): Promise<GcsObjectStore> {
  const chunkBytes = options.uploadChunkBytes ?? UPLOAD_CHUNK_DEFAULT;
  if (!Number.isInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes % KIB_256 !== 0) {
    throw new RangeError(
      `Expected \`uploadChunkBytes\` to be a positive multiple of 262144, got ${chunkBytes}.`,
    );
  }
  if (options.apiEndpoint === undefined && process.env.STORAGE_EMULATOR_HOST === undefined) {
    await assertGoogleCredentials();
  }
  const timeoutMs = options.requestTimeoutMs ?? 60_000;
  const storage = client(options.apiEndpoint, options.projectId, timeoutMs);
  return new GcsObjectStore(storage.bucket(location.bucket), location.prefix, location.display, {
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    retry: { ...GCS_RETRY_DEFAULTS, ...options.retry },
    chunkBytes,
    pageSize: options.listPageSize ?? 1000,
    timeoutMs,
    stallMs: options.stallTimeoutMs ?? 15_000,
  });
}

const clients = new Map<string, Storage>();

/**
 * One client per endpoint and settings, shared by every store of the process: the reports, raw and
 * state stores then share one auth client and its access token, and one connection pool.
 */
function client(apiEndpoint: string | undefined, projectId: string | undefined, timeoutMs: number): Storage {
  const key = JSON.stringify([apiEndpoint, process.env.STORAGE_EMULATOR_HOST, projectId, timeoutMs]);
  let storage = clients.get(key);
  if (storage === undefined) {
    storage = new Storage({
      ...(apiEndpoint !== undefined ? { apiEndpoint } : {}),
      ...(projectId !== undefined ? { projectId } : {}),
      timeout: timeoutMs,
      // Our policy retries (with a time budget and full jitter); the client must surface every error.
      retryOptions: { autoRetry: false, retryableErrorFn: () => false },
    });
    // `timeout` above covers JSON API calls only; resumable upload requests take it from interceptors.
    type Decorated = ReturnType<NonNullable<Storage['interceptors'][number]['request']>>;
    storage.interceptors.push({ request: (reqOpts) => ({ ...reqOpts, timeout: timeoutMs }) as Decorated });
    clients.set(key, storage);
  }
  return storage;
}

/**
 * An ObjectStore on a Cloud Storage bucket and prefix, with the semantics of FsObjectStore.
 *
 * Retried conditional writes: a put with `ifGenerationMatch` whose attempt failed ambiguously (5xx,
 * reset, timeout: it may have been applied) and whose retry then gets 412 reads the object back. If the
 * object carries this write's id (custom metadata `scheduler-write-id`), the earlier attempt landed and
 * the put succeeds with that generation; otherwise it is a real PreconditionFailedError. The one case
 * left undetectable without object versioning: our write landed and another writer replaced it before
 * the retry; that reports a precondition failure. Resumable uploads ask the session instead, which
 * remembers its outcome. A delete retried after an ambiguous failure that then finds nothing reports true.
 */
export class GcsObjectStore implements ObjectStore {
  constructor(
    private readonly bucket: Bucket,
    private readonly root: string,
    readonly location: string,
    private readonly settings: Settings,
  ) {}

  scope(prefix: string): ObjectStore {
    const clean = prefix.replace(/^\/+|\/+$/g, '');
    if (clean === '') return this;
    checkKey(clean);
    return new GcsObjectStore(this.bucket, this.join(clean), `${this.location}/${clean}`, this.settings);
  }

  async get(key: string): Promise<StoredObject | null> {
    const name = this.objectName(key);
    return this.retrying('get', name, async () => {
      const { clock, stallMs } = this.settings;
      try {
        const read = await download(this.bucket.file(name), clock, stallMs);
        if (read.generation !== undefined) return { data: read.data, generation: read.generation };
        // No x-goog-generation header (some emulators): read the metadata, then that generation.
        const [meta] = await this.bounded('get', name, this.bucket.file(name).getMetadata());
        const generation = String(meta.generation);
        try {
          const again = await download(this.bucket.file(name, { generation }), clock, stallMs);
          return { data: again.data, generation };
        } catch (error) {
          if (statusOf(error) === 404 && !bucketMissing(error)) throw new ObjectChanged();
          throw error;
        }
      } catch (error) {
        if (statusOf(error) === 404 && !bucketMissing(error)) return null;
        throw error;
      }
    });
  }

  async put(key: string, data: Buffer | string, options: PutOptions = {}): Promise<WriteResult> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (buf.length > this.settings.chunkBytes) return this.putStream(key, Readable.from([buf]), options);
    return this.putSmall(key, this.objectName(key), buf, options);
  }

  async putStream(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<WriteResult> {
    const name = this.objectName(key);
    const spool = new Spool(source);
    while (!spool.ended && spool.pulled <= this.settings.chunkBytes) await spool.pull();
    if (spool.ended && spool.pulled <= this.settings.chunkBytes) {
      return this.putSmall(key, name, spool.retained(), options);
    }
    const uri = await this.retrying('put', name, async () => {
      try {
        const [session] = await withTimeout(
          this.settings.clock,
          this.settings.timeoutMs,
          `Cloud Storage put ${this.uri(name)}`,
          this.bucket.file(name).createResumableUpload({
            metadata: { contentType: options.contentType ?? 'application/octet-stream' },
            ...preconditionOpts(options.ifGenerationMatch),
          }),
        );
        return session;
      } catch (error) {
        if (statusOf(error) === 412) throw this.preconditionFailed(key, options.ifGenerationMatch, error);
        throw error;
      }
    });
    const meta = await this.upload(key, name, uri, spool, options);
    // End to end: what the server stored is what we read (a resumed upload skips the client's crc32c).
    if (meta.md5Hash !== undefined && meta.md5Hash !== spool.md5().toString('base64')) {
      throw new SchedulerError(
        'STORE_UNAVAILABLE',
        `upload of ${this.uri(name)} was corrupted (md5 mismatch)`,
      );
    }
    return { key, generation: String(meta.generation), size: spool.pulled, md5: spool.md5().toString('hex') };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    if (slash > 0) this.objectName(prefix.slice(0, slash));
    const base = this.root === '' ? '' : `${this.root}/`;
    let pageToken: string | undefined;
    do {
      const token = pageToken;
      const [files, next] = await this.retrying('list', `${base}${prefix}*`, () =>
        this.bounded(
          'list',
          `${base}${prefix}*`,
          this.bucket.getFiles({
            prefix: base + prefix,
            autoPaginate: false,
            maxResults: this.settings.pageSize,
            ...(token !== undefined ? { pageToken: token } : {}),
          }),
        ),
      );
      for (const file of files) {
        const key = file.name.slice(base.length);
        if (!isValidKey(key)) continue; // written by another tool; FsObjectStore could not hold it either
        yield {
          key,
          size: Number(file.metadata.size ?? 0),
          generation: String(file.metadata.generation),
          updated: String(file.metadata.updated ?? file.metadata.timeCreated ?? ''),
        };
      }
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
  }

  async delete(key: string, options: { ifGenerationMatch?: Generation } = {}): Promise<boolean> {
    const name = this.objectName(key);
    const expected = options.ifGenerationMatch;
    return this.retrying('delete', name, async ({ ambiguous }) => {
      try {
        await this.bounded(
          'delete',
          name,
          this.bucket.file(name).delete(expected !== undefined ? { ifGenerationMatch: expected } : {}),
        );
        return true;
      } catch (error) {
        const status = statusOf(error);
        if (status === 404 && !bucketMissing(error)) {
          if (ambiguous) return true; // an earlier attempt most likely deleted it
          if (expected !== undefined && String(expected) !== '0')
            throw this.preconditionFailed(key, expected, error);
          return false;
        }
        if (status === 412) throw this.preconditionFailed(key, expected ?? '', error);
        throw error;
      }
    });
  }

  /** One multipart request, retried whole (the body is in memory). */
  private async putSmall(key: string, name: string, data: Buffer, options: PutOptions): Promise<WriteResult> {
    const md5 = createHash('md5').update(data).digest('hex');
    const expected = options.ifGenerationMatch;
    const writeId = expected !== undefined ? randomUUID() : undefined;
    return this.retrying('put', name, async ({ ambiguous }) => {
      const file = this.bucket.file(name);
      try {
        await withTimeout(
          this.settings.clock,
          this.settings.timeoutMs,
          `Cloud Storage put ${this.uri(name)}`,
          file.save(data, {
            resumable: false,
            validation: 'crc32c',
            ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
            ...(writeId !== undefined ? { metadata: { metadata: { [WRITE_ID]: writeId } } } : {}),
            ...preconditionOpts(expected),
          }),
        );
      } catch (error) {
        if (statusOf(error) !== 412) throw error;
        if (ambiguous && writeId !== undefined) {
          const landed = await this.landedGeneration(name, writeId);
          if (landed !== null) return { key, generation: landed, size: data.length, md5 };
        }
        throw this.preconditionFailed(key, expected ?? '', error);
      }
      return { key, generation: String(file.metadata.generation), size: data.length, md5 };
    });
  }

  /** The generation of `name` if it is the object written with `writeId`, else null. */
  private async landedGeneration(name: string, writeId: string): Promise<string | null> {
    try {
      const [meta] = await this.bounded('put', name, this.bucket.file(name).getMetadata());
      return meta.metadata?.[WRITE_ID] === writeId ? String(meta.generation) : null;
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  /**
   * Streams the spool into a resumable session in chunks. After a failure, the next attempt asks the
   * session how many bytes it holds and resumes from there with the bytes the spool still retains; a
   * session that already finished (the reply was lost) answers its object instead.
   */
  private upload(
    key: string,
    name: string,
    uri: string,
    spool: Spool,
    options: PutOptions,
  ): Promise<FileMetadata> {
    return this.retrying('put', name, async ({ attempt }) => {
      try {
        if (attempt > 1) {
          const status = await uploadStatus(uri, this.settings.timeoutMs);
          if (status.done !== undefined) {
            while (!spool.ended) await spool.pull();
            spool.confirm(spool.pulled);
            return status.done;
          }
          if (status.received < spool.base) {
            throw new SchedulerError(
              'STORE_UNAVAILABLE',
              `the upload session of ${this.uri(name)} lost ${spool.base - status.received} confirmed bytes; write it again`,
            );
          }
          spool.confirm(status.received);
        }
        const file = this.bucket.file(name);
        const offset = spool.base;
        const stream = file.createWriteStream({
          uri,
          offset,
          resumable: true,
          chunkSize: this.settings.chunkBytes,
          // The client checks the crc32c of a whole upload; resuming it would need the crc32c of the
          // bytes already sent, at ~45 MB/s of CPU for every upload. The md5 check above covers resumes.
          validation: offset === 0 ? 'crc32c' : false,
        });
        stream.on('response', (response: { headers?: unknown }) => {
          const confirmed = /bytes=0-(\d+)/.exec(headerOf(response.headers, 'range') ?? '');
          if (confirmed) spool.confirm(Number(confirmed[1]) + 1);
        });
        await pipeline(Readable.from(spool.from(offset)), stream);
        spool.confirm(spool.pulled);
        return file.metadata;
      } catch (error) {
        // The source failing is the caller's error, never retried: reading it again is impossible.
        if (spool.failure !== null) throw new NotRetried(spool.failure.error);
        const status = statusOf(error);
        if (status === 412) throw this.preconditionFailed(key, options.ifGenerationMatch, error);
        if (status === 404 || status === 410) {
          throw new SchedulerError(
            'STORE_UNAVAILABLE',
            `the resumable upload session of ${this.uri(name)} is gone (HTTP ${status}); write it again`,
            { cause: safeCause(error) },
          );
        }
        throw error;
      }
    });
  }

  /** Runs `attempt` under the store's retry policy (gcs-retry.ts), naming this object in errors. */
  private retrying<T>(
    operation: string,
    name: string,
    attempt: (context: { attempt: number; ambiguous: boolean }) => Promise<T>,
  ): Promise<T> {
    return retryingCall(
      this.settings,
      { operation, object: this.uri(name), bucket: this.bucket.name },
      attempt,
    );
  }

  /** A small JSON API call, abandoned (and so retried) when not answered within `stallTimeoutMs`. */
  private bounded<T>(operation: string, name: string, work: Promise<T>): Promise<T> {
    return withTimeout(
      this.settings.clock,
      this.settings.stallMs,
      `Cloud Storage ${operation} ${this.uri(name)}`,
      work,
    );
  }

  private preconditionFailed(
    key: string,
    expected: Generation | undefined,
    error: unknown,
  ): PreconditionFailedError {
    return new PreconditionFailedError(this.location, key, expected ?? '', { cause: safeCause(error) });
  }

  private objectName(key: string): string {
    checkKey(key);
    return this.join(key);
  }

  private join(key: string): string {
    return this.root === '' ? key : `${this.root}/${key}`;
  }

  private uri(name: string): string {
    return `gs://${this.bucket.name}/${name}`;
  }
}

function preconditionOpts(expected: Generation | undefined): {
  preconditionOpts?: { ifGenerationMatch: string | number };
} {
  return expected === undefined ? {} : { preconditionOpts: { ifGenerationMatch: expected } };
}

function isValidKey(key: string): boolean {
  try {
    checkKey(key);
    return true;
  } catch {
    return false;
  }
}
