import { SchedulerError } from '../errors';
import type { StoreLocation } from './location';
import type { ObjectStore } from './types';

export async function openGcsStore(location: StoreLocation & { kind: 'gcs' }): Promise<ObjectStore> {
  throw new SchedulerError('STORE_URI_INVALID', `${location.display}: Cloud Storage is not supported yet`);
}
