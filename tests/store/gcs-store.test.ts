import { openGcsStore, type GcsStoreOptions } from '../../src/store/gcs-store';
import { parseLocation } from '../../src/store/location';
import { openStore } from '../../src/store/open';
import type { ObjectStore } from '../../src/store/types';
import { startGcsServer, type GcsServer } from '../support/gcs-server';
import { storeFixture } from '../support/stores';
import { describeObjectStore } from './store-contract';

const BUCKET = 'contract-bucket';
let server: GcsServer;
beforeAll(async () => {
  // Two items a page, so every list in the contract crosses page boundaries.
  server = await startGcsServer({ pageSize: 2 });
  server.createBucket(BUCKET);
});
afterAll(() => server.close());

let n = 0;
function open(prefix: string, options: GcsStoreOptions = {}): Promise<ObjectStore> {
  return openGcsStore(
    parseLocation(`gs://${BUCKET}/${prefix}`) as ReturnType<typeof parseLocation> & { kind: 'gcs' },
    {
      apiEndpoint: server.url,
      // 256 KiB pieces: the contract's multi-MB streams take the chunked resumable path.
      uploadChunkBytes: 256 * 1024,
      ...options,
    },
  );
}

describeObjectStore('Cloud Storage (apiEndpoint, chunked uploads, 2-item pages)', async () => {
  const prefix = `contract/t${++n}`;
  return { store: await open(prefix), reopen: () => open(prefix) };
});

describe('through STORAGE_EMULATOR_HOST and openStore', () => {
  const storage = storeFixture('gcs');
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  let m = 0;
  describeObjectStore('Cloud Storage (STORAGE_EMULATOR_HOST, defaults)', async () => {
    const uri = storage.uri(`t${++m}`);
    return { store: await openStore(uri), reopen: () => openStore(uri) };
  });
});
