import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileMetadata } from '@google-cloud/storage';
import { SchedulerError } from '../errors';
import { headerOf, NotRetried, safeCause, statusOf } from './gcs-errors';
import { withTimeout } from './gcs-download';
import { preconditionOpts, WRITE_ID, type GcsCalls } from './gcs-settings';
import { uploadStatus, type Spool } from './gcs-upload';
import type { PutOptions, WriteResult } from './types';

/*
 * The store's two ways to write (gcs-store.ts chooses): one multipart request for what fits in one
 * chunk, else a resumable session fed from the spool and resumed after a failure.
 */

/**
 * A resumable session for a stream larger than one chunk, then its upload; the md5 of what the server
 * stored must be that of what was read.
 */
export async function putResumable(
  store: GcsCalls,
  key: string,
  name: string,
  spool: Spool,
  options: PutOptions,
): Promise<WriteResult> {
  const uri = await store.retrying('put', name, async () => {
    try {
      const [session] = await withTimeout(
        store.settings.clock,
        store.settings.timeoutMs,
        `Cloud Storage put ${store.uri(name)}`,
        store.bucket.file(name).createResumableUpload({
          metadata: { contentType: options.contentType ?? 'application/octet-stream' },
          ...preconditionOpts(options.ifGenerationMatch),
        }),
      );
      return session;
    } catch (error) {
      if (statusOf(error) === 412) throw store.preconditionFailed(key, options.ifGenerationMatch, error);
      throw error;
    }
  });
  const meta = await upload(store, key, name, uri, spool, options);
  // End to end: what the server stored is what we read (a resumed upload skips the client's crc32c).
  if (meta.md5Hash !== undefined && meta.md5Hash !== spool.md5().toString('base64')) {
    throw new SchedulerError(
      'STORE_UNAVAILABLE',
      `upload of ${store.uri(name)} was corrupted (md5 mismatch)`,
    );
  }
  return { key, generation: String(meta.generation), size: spool.pulled, md5: spool.md5().toString('hex') };
}

/** One multipart request, retried whole (the body is in memory). */
export async function putSmall(
  store: GcsCalls,
  key: string,
  name: string,
  data: Buffer,
  options: PutOptions,
): Promise<WriteResult> {
  const md5 = createHash('md5').update(data).digest('hex');
  const expected = options.ifGenerationMatch;
  const writeId = expected !== undefined ? randomUUID() : undefined;
  return store.retrying('put', name, async ({ ambiguous }) => {
    const file = store.bucket.file(name);
    try {
      await withTimeout(
        store.settings.clock,
        store.settings.timeoutMs,
        `Cloud Storage put ${store.uri(name)}`,
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
        const landed = await landedGeneration(store, name, writeId);
        if (landed !== null) return { key, generation: landed, size: data.length, md5 };
      }
      throw store.preconditionFailed(key, expected ?? '', error);
    }
    return { key, generation: String(file.metadata.generation), size: data.length, md5 };
  });
}

/** The generation of `name` if it is the object written with `writeId`, else null. */
async function landedGeneration(store: GcsCalls, name: string, writeId: string): Promise<string | null> {
  try {
    const [meta] = await store.bounded('put', name, store.bucket.file(name).getMetadata());
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
function upload(
  store: GcsCalls,
  key: string,
  name: string,
  uri: string,
  spool: Spool,
  options: PutOptions,
): Promise<FileMetadata> {
  return store.retrying('put', name, async ({ attempt }) => {
    try {
      if (attempt > 1) {
        const status = await uploadStatus(uri, store.settings.timeoutMs);
        if (status.done !== undefined) {
          while (!spool.ended) await spool.pull();
          spool.confirm(spool.pulled);
          return status.done;
        }
        if (status.received < spool.base) {
          throw new SchedulerError(
            'STORE_UNAVAILABLE',
            `the upload session of ${store.uri(name)} lost ${spool.base - status.received} confirmed bytes; write it again`,
          );
        }
        spool.confirm(status.received);
      }
      const file = store.bucket.file(name);
      const offset = spool.base;
      const stream = file.createWriteStream({
        uri,
        offset,
        resumable: true,
        chunkSize: store.settings.chunkBytes,
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
      if (status === 412) throw store.preconditionFailed(key, options.ifGenerationMatch, error);
      if (status === 404 || status === 410) {
        throw new SchedulerError(
          'STORE_UNAVAILABLE',
          `the resumable upload session of ${store.uri(name)} is gone (HTTP ${status}); write it again`,
          { cause: safeCause(error) },
        );
      }
      throw error;
    }
  });
}
