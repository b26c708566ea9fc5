import { existsSync } from 'node:fs';
import { openStore } from '../../src/store/open';
import { STORE_KINDS, storeFixture, TEST_BUCKET } from '../support/stores';

describe.each(STORE_KINDS)('storeFixture(%s)', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());

  test('uri() names a location openStore writes to, the same one for the same name', async () => {
    expect(storage.uri('reports')).toBe(storage.uri('reports'));
    expect(storage.uri('reports')).not.toBe(storage.uri('raw'));
    const reports = await openStore(storage.uri('reports'));
    const written = await reports.put('2026/11/22/x.json', '{}');
    const again = await openStore(storage.uri('reports'));
    expect((await again.get('2026/11/22/x.json'))?.generation).toBe(written.generation);
    expect(await (await openStore(storage.uri('raw'))).get('2026/11/22/x.json')).toBeNull();
    if (kind === 'gcs') {
      expect(storage.uri('reports').startsWith(`gs://${TEST_BUCKET}/`)).toBe(true);
      expect(storage.gcs?.objectNames(TEST_BUCKET)).toEqual([
        `${storage.uri('reports').slice(`gs://${TEST_BUCKET}/`.length)}/2026/11/22/x.json`,
      ]);
    } else {
      expect(storage.gcs).toBeNull();
    }
  });
});

test('teardown restores STORAGE_EMULATOR_HOST and removes temp dirs', async () => {
  process.env.STORAGE_EMULATOR_HOST = 'http://127.0.0.1:1';
  const gcs = storeFixture('gcs');
  await gcs.setup();
  expect(process.env.STORAGE_EMULATOR_HOST).toBe(gcs.gcs?.url);
  await gcs.teardown();
  expect(process.env.STORAGE_EMULATOR_HOST).toBe('http://127.0.0.1:1');
  delete process.env.STORAGE_EMULATOR_HOST;

  const fs = storeFixture('fs');
  await fs.setup();
  const dir = fs.uri('');
  expect(existsSync(dir)).toBe(true);
  await fs.teardown();
  expect(existsSync(dir)).toBe(false);
});
