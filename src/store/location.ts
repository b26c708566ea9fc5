import * as path from 'node:path';
import { SchedulerError } from '../errors';

export type StoreLocation =
  | { kind: 'fs'; dir: string; display: string }
  | { kind: 'gcs'; bucket: string; prefix: string; display: string };

// https://cloud.google.com/storage/docs/buckets#naming (dotted names up to 222 characters).
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/**
 * Parses a storage location: `gs://bucket[/prefix]`, `file:///abs/path`, or a plain path (relative to
 * `baseDir`). Anything else with a scheme is an error rather than a directory named "s3:".
 */
export function parseLocation(uri: string, baseDir: string = process.cwd()): StoreLocation {
  const trimmed = uri.trim();
  if (trimmed === '') throw invalid(uri, 'it is empty');
  if (trimmed.startsWith('gs://')) {
    const rest = trimmed.slice('gs://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
    if (!BUCKET.test(bucket) || bucket.includes('..')) {
      throw invalid(
        uri,
        `"${bucket}" is not a valid bucket name (3-222 lowercase letters, digits, "-", "_" or ".")`,
      );
    }
    if (prefix.split('/').some((s) => s === '' || s === '.' || s === '..') && prefix !== '') {
      throw invalid(uri, 'the object prefix has an empty, "." or ".." segment');
    }
    return { kind: 'gcs', bucket, prefix, display: `gs://${bucket}${prefix ? '/' + prefix : ''}` };
  }
  if (trimmed.startsWith('file://')) {
    const dir = decodeURIComponent(trimmed.slice('file://'.length));
    if (!path.isAbsolute(dir)) throw invalid(uri, 'a file:// URI needs an absolute path');
    return { kind: 'fs', dir, display: trimmed };
  }
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(trimmed)) {
    throw invalid(uri, 'only gs:// URIs and local paths are supported');
  }
  return { kind: 'fs', dir: path.resolve(baseDir, trimmed), display: trimmed };
}

function invalid(uri: string, why: string): SchedulerError {
  return new SchedulerError('STORE_URI_INVALID', `storage location "${uri}" is not valid: ${why}`);
}
