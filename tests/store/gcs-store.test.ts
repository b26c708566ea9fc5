import type { GcsStoreOptions } from '../../src/store/gcs-store';
import { openStore } from '../../src/store/open';
import type { ObjectStore } from '../../src/store/types';
import { startGcsServer, type GcsServer } from '../support/gcs-server';
import { openOnServer, storeFixture, TEST_BUCKET } from '../support/stores';
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
const open = (prefix: string, options: GcsStoreOptions = {}): Promise<ObjectStore> =>
  openOnServer(server, `gs://${BUCKET}/${prefix}`, options);

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

describe('openStore with gs:// URIs', () => {
  test.each(['gs://', 'gs://UPPER/x', 'gs://ab', 'gs://bucket//x', 'gs://bucket/a/../b', 'gs://-bucket/x'])(
    '%s is STORE_URI_INVALID',
    async (uri) => {
      await expect(openStore(uri)).rejects.toMatchObject({ code: 'STORE_URI_INVALID' });
    },
  );

  test('with neither STORAGE_EMULATOR_HOST nor an endpoint, missing credentials are one clear error', async () => {
    expect(process.env.STORAGE_EMULATOR_HOST).toBeUndefined();
    await expect(openStore(`gs://${BUCKET}/x`)).rejects.toMatchObject({
      code: 'AUTH_NO_CREDENTIALS',
      message: expect.stringContaining('GOOGLE_APPLICATION_CREDENTIALS'),
    });
  });

  describe('through STORAGE_EMULATOR_HOST', () => {
    const storage = storeFixture('gcs');
    beforeAll(() => storage.setup());
    afterAll(() => storage.teardown());

    test('the client talks to the emulator with /b/ paths and uploads under /upload/storage/v1', async () => {
      const uri = storage.uri('reports');
      expect(uri).toMatch(new RegExp(`^gs://${TEST_BUCKET}/run-[0-9a-f]+/reports$`));
      const store = await openStore(uri);
      expect(store.location).toBe(uri);
      const written = await store.put('latest.json', '{}');
      expect((await store.get('latest.json'))?.generation).toBe(written.generation);
      const paths = storage.gcs!.requests.map((r) => `${r.method} ${r.path}`);
      expect(paths).toContain(`POST /upload/storage/v1/b/${TEST_BUCKET}/o`);
      expect(paths.filter((p) => p.startsWith('GET '))).toEqual([
        expect.stringMatching(new RegExp(`^GET /b/${TEST_BUCKET}/o/`)),
      ]);
    });
  });
});
