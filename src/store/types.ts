import type { Readable } from 'node:stream';
import { SchedulerError, type SchedulerErrorOptions } from '../errors';

/**
 * One object store for reports, raw data, leases, markers and tokens: a local directory or a Cloud
 * Storage prefix. Keys are relative, '/'-separated paths. Generations are opaque strings that change on
 * every write; `ifGenerationMatch: 0` means "only if the object does not exist yet".
 */
export interface ObjectStore {
  /** Where this store points, for messages and manifests (`./var/raw`, `gs://bucket/raw`). */
  readonly location: string;
  get(key: string): Promise<StoredObject | null>;
  put(key: string, data: Buffer | string, options?: PutOptions): Promise<WriteResult>;
  /** Streams `source` into `key` without buffering it whole; resumable on Cloud Storage. */
  putStream(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    options?: PutOptions,
  ): Promise<WriteResult>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Resolves false if the object did not exist. */
  delete(key: string, options?: { ifGenerationMatch?: Generation }): Promise<boolean>;
  /** The same store rooted at `prefix` below this one. */
  scope(prefix: string): ObjectStore;
}

export type Generation = string | number;

export interface PutOptions {
  ifGenerationMatch?: Generation;
  contentType?: string;
}

export interface StoredObject {
  data: Buffer;
  generation: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  generation: string;
  updated: string;
}

export interface WriteResult {
  key: string;
  generation: string;
  size: number;
  /** MD5 of the bytes written, hex. */
  md5: string;
}

/** A conditional write or delete lost: someone else wrote the object first. */
export class PreconditionFailedError extends SchedulerError {
  constructor(location: string, key: string, expected: Generation, options: SchedulerErrorOptions = {}) {
    super(
      'STORE_PRECONDITION',
      `${location}/${key} changed under us (expected generation ${String(expected) === '0' ? '"absent"' : expected})`,
      { ...options, details: { key, expected: String(expected) } },
    );
    this.name = 'PreconditionFailedError';
  }
}

export function isPreconditionFailed(error: unknown): error is PreconditionFailedError {
  return (error as { code?: unknown } | null)?.code === 'STORE_PRECONDITION';
}

/**
 * Keys are relative paths with no empty, '.' or '..' segment. Names like `.x.lock` and `.x.tmp` are the
 * filesystem store's own lock and temp files; both stores refuse them, so a key works on either.
 */
export function checkKey(key: string): string {
  const segments = key.split('/');
  const ok =
    key.length > 0 &&
    key.length <= 1024 &&
    !key.startsWith('/') &&
    !key.includes('\\') &&
    !key.includes('\0') &&
    segments.every((s) => s !== '' && s !== '.' && s !== '..');
  if (!ok) {
    throw new SchedulerError(
      'STORE_KEY_INVALID',
      `"${key}" is not a valid object key (relative path, no empty or ".." segments)`,
    );
  }
  if (segments.some(isReservedSegment)) {
    throw new SchedulerError(
      'STORE_KEY_INVALID',
      `"${key}" uses a name reserved for the store's own lock and temp files`,
    );
  }
  return key;
}

export function isReservedSegment(segment: string): boolean {
  return segment.startsWith('.') && (segment.endsWith('.lock') || segment.endsWith('.tmp'));
}

export async function readJson<T>(
  store: ObjectStore,
  key: string,
): Promise<{ value: T; generation: string } | null> {
  const obj = await store.get(key);
  if (!obj) return null;
  try {
    return { value: JSON.parse(obj.data.toString('utf8')) as T, generation: obj.generation };
  } catch (cause) {
    throw new SchedulerError('STORE_NOT_FOUND', `${store.location}/${key} is not valid JSON`, { cause });
  }
}

export function putJson(
  store: ObjectStore,
  key: string,
  value: unknown,
  options: PutOptions = {},
): Promise<WriteResult> {
  return store.put(key, JSON.stringify(value, null, 2) + '\n', {
    contentType: 'application/json',
    ...options,
  });
}
