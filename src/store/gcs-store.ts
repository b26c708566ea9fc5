import { Readable } from 'node:stream';
import { Storage, type Bucket } from '@google-cloud/storage';
import { assertGoogleCredentials } from '../auth/credentials';
import { systemClock } from '../util/clock';
import { bucketMissing, ObjectChanged, safeCause, statusOf } from './gcs-errors';
import { retryingCall } from './gcs-retry';
import { download, withTimeout } from './gcs-download';
import {
  GCS_RETRY_DEFAULTS,
  KIB_256,
  UPLOAD_CHUNK_DEFAULT,
  type GcsSettings,
  type GcsStoreOptions,
} from './gcs-settings';
import { Spool } from './gcs-upload';
import { putResumable, putSmall } from './gcs-write';

export { GCS_RETRY_DEFAULTS, type GcsRetryOptions, type GcsStoreOptions } from './gcs-settings';
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
    readonly bucket: Bucket,
    private readonly root: string,
    readonly location: string,
    readonly settings: GcsSettings,
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
    return putSmall(this, key, this.objectName(key), buf, options);
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
      return putSmall(this, key, name, spool.retained(), options);
    }
    return putResumable(this, key, name, spool, options);
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

  /** Runs `attempt` under the store's retry policy (gcs-retry.ts), naming this object in errors. */
  retrying<T>(
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
  bounded<T>(operation: string, name: string, work: Promise<T>): Promise<T> {
    return withTimeout(
      this.settings.clock,
      this.settings.stallMs,
      `Cloud Storage ${operation} ${this.uri(name)}`,
      work,
    );
  }

  preconditionFailed(key: string, expected: Generation | undefined, error: unknown): PreconditionFailedError {
    return new PreconditionFailedError(this.location, key, expected ?? '', { cause: safeCause(error) });
  }

  private objectName(key: string): string {
    checkKey(key);
    return this.join(key);
  }

  private join(key: string): string {
    return this.root === '' ? key : `${this.root}/${key}`;
  }

  uri(name: string): string {
    return `gs://${this.bucket.name}/${name}`;
  }
}

function isValidKey(key: string): boolean {
  try {
    checkKey(key);
    return true;
  } catch {
    return false;
  }
}
