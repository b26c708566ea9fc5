import { openStore } from '../../src/store/open';
import { storeFixture } from '../support/stores';
import { describeObjectStore } from './store-contract';

const storage = storeFixture('fs');
beforeAll(() => storage.setup());
afterAll(() => storage.teardown());

let n = 0;
describeObjectStore('local filesystem', async () => {
  const uri = storage.uri(`t${++n}`);
  return { store: await openStore(uri), reopen: () => openStore(uri) };
});
