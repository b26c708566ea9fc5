import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SchedulerError } from '../errors';
import { systemClock } from '../util/clock';
import { retryResult, type RetryPolicy } from '../util/retry';
import { inlineHash, streamHash, type StreamHash } from './md5-offload';
import {
  checkKey,
  isReservedSegment,
  PreconditionFailedError,
  type Generation,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoredObject,
  type WriteResult,
} from './types';

/** How long a key lock may be held before others consider its holder dead (a lock lives microseconds). */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 15_000;
/** Waiting for another writer's lock: short full-jitter waits (1 ms doubling to 20 ms) for up to LOCK_WAIT_MS. */
const LOCK_RETRY: RetryPolicy = {
  attempts: Number.POSITIVE_INFINITY,
  baseDelayMs: 1,
  maxDelayMs: 20,
  budgetMs: LOCK_WAIT_MS,
};
/**
 * Bytes the temp file's stream buffers while a write is in flight; they go out in one writev. At the
 * default 16 KiB every socket chunk was its own write and the socket paused while it ran (bench/streams).
 */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * An object store on the local filesystem, with the same semantics as Cloud Storage: atomic replacement
 * (write a temp file, rename over the key) and generation preconditions that hold across processes.
 *
 * A generation is the file's mtime in milliseconds. Every write sets it explicitly, under a per-key lock
 * directory (mkdir is atomic), to max(now, previous + 1), so generations of one key strictly increase and
 * a reader gets data and generation from one open file descriptor.
 */
export class FsObjectStore implements ObjectStore {
  readonly location: string;

  constructor(
    private readonly root: string,
    location?: string,
  ) {
    this.location = location ?? root;
  }

  scope(prefix: string): ObjectStore {
    const clean = prefix.replace(/^\/+|\/+$/g, '');
    if (clean === '') return this;
    checkKey(clean);
    return new FsObjectStore(path.join(this.root, clean), `${this.location}/${clean}`);
  }

  private file(key: string): string {
    checkKey(key);
    return path.join(this.root, key);
  }

  async get(key: string): Promise<StoredObject | null> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.file(key), 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT', 'EISDIR', 'ENOTDIR')) return null;
      throw error;
    }
    try {
      const stat = await handle.stat({ bigint: true });
      if (!stat.isFile()) return null;
      const data = await handle.readFile();
      return { data, generation: generationOf(stat.mtimeNs) };
    } catch (error) {
      if (isCode(error, 'EISDIR')) return null;
      throw error;
    } finally {
      await handle.close();
    }
  }

  async put(key: string, data: Buffer | string, options: PutOptions = {}): Promise<WriteResult> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    // Small objects (JSON) are hashed inline: a trip to the worker would cost more than their MD5.
    return this.write(key, Readable.from([buf]), inlineHash, options);
  }

  async putStream(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<WriteResult> {
    return this.write(key, source, streamHash, options);
  }

  private async write(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    hash: () => StreamHash,
    options: PutOptions,
  ): Promise<WriteResult> {
    const target = this.file(key);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const temp = path.join(
      path.dirname(target),
      `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    const md5 = hash();
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        const wait = md5.update(chunk);
        if (wait) wait.then(() => done(null, chunk), done);
        else done(null, chunk);
      },
    });
    try {
      await pipeline(source, tap, createWriteStream(temp, { highWaterMark: WRITE_BATCH_BYTES }));
      const digest = await md5.digest();
      const generation = await this.withLock(target, async () => {
        const current = await currentGeneration(target);
        checkPrecondition(this.location, key, current, options.ifGenerationMatch);
        const next = Math.max(Date.now(), current === null ? 0 : Number(current) + 1);
        await fsp.utimes(temp, next / 1000, next / 1000);
        await fsp.rename(temp, target);
        return String(next);
      });
      return { key, generation, size, md5: digest };
    } catch (error) {
      md5.abort();
      await fsp.rm(temp, { force: true });
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk only the directory the prefix points into; the rest of the prefix filters names.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = dirKey === '' ? this.root : this.file(dirKey);
    for await (const info of walk(start, dirKey)) {
      if (info.key.startsWith(prefix)) yield info;
    }
  }

  async delete(key: string, options: { ifGenerationMatch?: Generation } = {}): Promise<boolean> {
    const target = this.file(key);
    try {
      await fsp.access(path.dirname(target));
    } catch {
      checkPrecondition(this.location, key, null, options.ifGenerationMatch);
      return false;
    }
    return this.withLock(target, async () => {
      const current = await currentGeneration(target);
      checkPrecondition(this.location, key, current, options.ifGenerationMatch);
      if (current === null) return false;
      await fsp.rm(target, { force: true });
      return true;
    });
  }

  private async withLock<T>(target: string, body: () => Promise<T>): Promise<T> {
    const lock = path.join(path.dirname(target), `.${path.basename(target)}.lock`);
    const locked = await retryResult<void, unknown>(
      async () => {
        try {
          await fsp.mkdir(lock);
          return { ok: true, value: undefined };
        } catch (error) {
          if (!isCode(error, 'EEXIST')) throw error;
          const stat = await fsp.stat(lock).catch(() => null);
          if (stat && Date.now() - stat.mtimeMs > STALE_LOCK_MS) {
            // Its holder died long ago: take the lock over at once.
            await fsp.rmdir(lock).catch(() => undefined);
            return { ok: false, failure: error, retryable: true, retryAfterMs: 0 };
          }
          return { ok: false, failure: error, retryable: true };
        }
      },
      { policy: LOCK_RETRY, clock: systemClock },
    );
    if (!locked.ok) {
      throw new SchedulerError('STORE_UNAVAILABLE', `timed out waiting for the write lock of ${target}`);
    }
    try {
      return await body();
    } finally {
      await fsp.rmdir(lock).catch(() => undefined);
    }
  }
}

function generationOf(mtimeNs: bigint): string {
  return String((mtimeNs + 500_000n) / 1_000_000n);
}

async function currentGeneration(file: string): Promise<string | null> {
  try {
    const stat = await fsp.stat(file, { bigint: true });
    return stat.isFile() ? generationOf(stat.mtimeNs) : null;
  } catch (error) {
    if (isCode(error, 'ENOENT', 'ENOTDIR')) return null;
    throw error;
  }
}

function checkPrecondition(
  location: string,
  key: string,
  current: string | null,
  expected: Generation | undefined,
): void {
  if (expected === undefined) return;
  const ok = String(expected) === '0' ? current === null : current === String(expected);
  if (!ok) throw new PreconditionFailedError(location, key, expected);
}

async function* walk(dir: string, keyPrefix: string): AsyncIterable<ObjectInfo> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isCode(error, 'ENOENT', 'ENOTDIR')) return;
    throw error;
  }
  // Cloud Storage lists in lexicographic key order; do the same.
  const named = entries
    .filter((e) => !isReservedSegment(e.name))
    .map((e) => ({ e, key: keyPrefix === '' ? e.name : `${keyPrefix}/${e.name}` }))
    .sort((a, b) =>
      a.key + (a.e.isDirectory() ? '/' : '') < b.key + (b.e.isDirectory() ? '/' : '') ? -1 : 1,
    );
  for (const { e, key } of named) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      yield* walk(full, key);
    } else if (e.isFile()) {
      const stat = await fsp.stat(full, { bigint: true }).catch(() => null);
      if (stat)
        yield {
          key,
          size: Number(stat.size),
          generation: generationOf(stat.mtimeNs),
          updated: new Date(Number(stat.mtimeMs)).toISOString(),
        };
    }
  }
}

function isCode(error: unknown, ...codes: string[]): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}
