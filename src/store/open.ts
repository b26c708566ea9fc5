import { FsObjectStore } from './fs-store';
import { parseLocation } from './location';
import type { ObjectStore } from './types';

export type StoreOpener = (uri: string) => Promise<ObjectStore>;

/**
 * Opens a store for a location URI. The Cloud Storage implementation (and its client library, ~150 ms
 * to import) is loaded only when a gs:// location is actually used.
 */
export const openStore: StoreOpener = async (uri) => {
  const location = parseLocation(uri);
  if (location.kind === 'fs') return new FsObjectStore(location.dir, location.display);
  const { openGcsStore } = require('./gcs-store') as typeof import('./gcs-store');
  return openGcsStore(location);
};
