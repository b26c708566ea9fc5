import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { openGcsStore, type GcsStoreOptions } from '../../src/store/gcs-store';
import { parseLocation, type StoreLocation } from '../../src/store/location';
import type { ObjectStore } from '../../src/store/types';
import { startGcsServer, type GcsServer } from './gcs-server';

/** Every store implementation; suites that touch storage run once per kind. */
export const STORE_KINDS = ['fs', 'gcs'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** The bucket every 'gcs' fixture creates on its server. */
export const TEST_BUCKET = 'test-bucket';

export interface StoreFixture {
  readonly kind: StoreKind;
  /** For 'fs': makes a temp dir. For 'gcs': starts a Cloud Storage server, creates the bucket, sets STORAGE_EMULATOR_HOST. */
  setup(): Promise<void>;
  /**
   * A storage URI for `name` that `openStore` (hence a config's `storage:` entries) understands: a path
   * in the temp dir, or `gs://test-bucket/<unique prefix>/<name>`. The same name gives the same URI.
   */
  uri(name: string): string;
  /** The Cloud Storage server of a 'gcs' fixture, for faults and request assertions; null for 'fs'. */
  readonly gcs: GcsServer | null;
  /** Removes the temp dir, or stops the server and restores STORAGE_EMULATOR_HOST. */
  teardown(): Promise<void>;
}

/**
 * One storage location per fixture, on the local filesystem or on a loopback Cloud Storage server.
 * Typical use, running a suite on both stores:
 *
 *     describe.each(STORE_KINDS)('%s store', (kind) => {
 *       const storage = storeFixture(kind);
 *       beforeAll(() => storage.setup());
 *       afterAll(() => storage.teardown());
 *       test('...', async () => { const store = await openStore(storage.uri('reports')); ... });
 *     });
 *
 * A 'gcs' fixture owns process.env.STORAGE_EMULATOR_HOST between setup and teardown, so set up at
 * most one at a time in a test file.
 */
export function storeFixture(kind: StoreKind): StoreFixture {
  return kind === 'fs' ? fsFixture() : gcsFixture();
}

function fsFixture(): StoreFixture {
  let dir: string | null = null;
  return {
    kind: 'fs',
    gcs: null,
    async setup() {
      dir = mkdtempSync(path.join(tmpdir(), 'store-'));
    },
    uri(name) {
      if (dir === null) throw new Error('storeFixture("fs"): call setup() first');
      return path.join(dir, name);
    },
    async teardown() {
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
      dir = null;
    },
  };
}

function gcsFixture(): StoreFixture {
  let server: GcsServer | null = null;
  let saved: string | undefined;
  const prefix = `run-${randomBytes(4).toString('hex')}`;
  return {
    kind: 'gcs',
    get gcs() {
      return server;
    },
    async setup() {
      server = await startGcsServer();
      server.createBucket(TEST_BUCKET);
      saved = process.env.STORAGE_EMULATOR_HOST;
      process.env.STORAGE_EMULATOR_HOST = server.url;
    },
    uri(name) {
      if (server === null) throw new Error('storeFixture("gcs"): call setup() first');
      const clean = name.replace(/^\/+|\/+$/g, '');
      return `gs://${TEST_BUCKET}/${prefix}${clean === '' ? '' : `/${clean}`}`;
    },
    async teardown() {
      if (saved === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = saved;
      await server?.close();
      server = null;
    },
  };
}

export function gcsLocation(uri: string): StoreLocation & { kind: 'gcs' } {
  const location = parseLocation(uri);
  if (location.kind !== 'gcs') throw new Error(`${uri} is not a gs:// location`);
  return location;
}

/**
 * The Cloud Storage store on `server` itself (apiEndpoint, not STORAGE_EMULATOR_HOST), with 256 KiB
 * upload chunks so multi-MB streams take the chunked resumable path.
 */
export function openOnServer(
  server: GcsServer,
  uri: string,
  options: GcsStoreOptions = {},
): Promise<ObjectStore> {
  return openGcsStore(gcsLocation(uri), {
    apiEndpoint: server.url,
    uploadChunkBytes: 256 * 1024,
    ...options,
  });
}
