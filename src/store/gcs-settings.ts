import type { Bucket } from '@google-cloud/storage';
import type { Clock } from '../util/clock';
import type { Generation, PreconditionFailedError } from './types';

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
export const KIB_256 = 256 * 1024;
export const UPLOAD_CHUNK_DEFAULT = 32 * KIB_256;
/** Custom metadata naming the conditional write that produced an object (see `put`). */
export const WRITE_ID = 'scheduler-write-id';

/** The settings of one store, resolved from GcsStoreOptions. */
export interface GcsSettings {
  clock: Clock;
  random: () => number;
  retry: Required<GcsRetryOptions>;
  chunkBytes: number;
  pageSize: number;
  timeoutMs: number;
  stallMs: number;
}

/** What the write paths (gcs-write.ts) use of a store: its bucket, settings and call wrappers. */
export interface GcsCalls {
  readonly bucket: Bucket;
  readonly settings: GcsSettings;
  /** `gs://bucket/name`, for messages. */
  uri(name: string): string;
  /** Runs `attempt` under the store's retry policy (gcs-retry.ts), naming the object in errors. */
  retrying<T>(
    operation: string,
    name: string,
    attempt: (context: { attempt: number; ambiguous: boolean }) => Promise<T>,
  ): Promise<T>;
  /** A small JSON API call, abandoned (and so retried) when not answered within `stallTimeoutMs`. */
  bounded<T>(operation: string, name: string, work: Promise<T>): Promise<T>;
  preconditionFailed(key: string, expected: Generation | undefined, error: unknown): PreconditionFailedError;
}

/** The client's precondition option for an expected generation (none when not conditional). */
export function preconditionOpts(expected: Generation | undefined): {
  preconditionOpts?: { ifGenerationMatch: string | number };
} {
  return expected === undefined ? {} : { preconditionOpts: { ifGenerationMatch: expected } };
}
