import { SchedulerError } from '../../src/errors';
import type { ObjectStore } from '../../src/store/types';

/**
 * A real store (filesystem or Cloud Storage) whose writes to some keys fail while `failing` is set, as
 * after the store's own retries (STORE_UNAVAILABLE): an outage seen by one instance only.
 */
export interface FailingWrites {
  store: ObjectStore;
  /** Writes to keys matching this fail; null lets every write through. */
  failing: RegExp | null;
  /** Writes refused so far. */
  refused: string[];
}

export function failingWrites(inner: ObjectStore): FailingWrites {
  const state: FailingWrites = { store: inner, failing: null, refused: [] };
  const refuse = (key: string, full: string) => {
    if (state.failing?.test(full)) {
      state.refused.push(full);
      throw new SchedulerError(
        'STORE_UNAVAILABLE',
        `${inner.location}/${key}: the store is unavailable (test)`,
      );
    }
  };
  const wrap = (store: ObjectStore, prefix: string): ObjectStore => ({
    location: store.location,
    get: (key) => store.get(key),
    list: (p) => store.list(p),
    async put(key, data, options) {
      refuse(key, prefix + key);
      return store.put(key, data, options);
    },
    async putStream(key, source, options) {
      refuse(key, prefix + key);
      return store.putStream(key, source, options);
    },
    async delete(key, options) {
      refuse(key, prefix + key);
      return store.delete(key, options);
    },
    scope: (p) => wrap(store.scope(p), `${prefix}${p.replace(/^\/+|\/+$/g, '')}/`),
  });
  state.store = wrap(inner, '');
  return state;
}
