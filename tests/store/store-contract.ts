import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { isSchedulerError } from '../../src/errors';
import {
  isPreconditionFailed,
  PreconditionFailedError,
  putJson,
  readJson,
  type ObjectStore,
} from '../../src/store/types';

/** What one contract test gets: a store on a fresh, empty location. */
export interface ContractSubject {
  store: ObjectStore;
  /** A second handle on the same location, as another process would open it. */
  reopen(): Promise<ObjectStore>;
}

const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out;
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<unknown> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a rejection with ${code}`);
    },
    (e: unknown) => e,
  );
  expect((error as { code?: unknown }).code).toBe(code);
  return error;
}

/** A stream of `total` deterministic bytes in awkwardly sized chunks. */
function byteStream(total: number, chunk = 64 * 1024 + 7): { stream: Readable; data: Buffer } {
  const data = Buffer.alloc(total);
  for (let i = 0; i < total; i++) data[i] = (i * 31 + (i >> 8)) & 0xff;
  const parts: Buffer[] = [];
  for (let at = 0; at < total; at += chunk) parts.push(data.subarray(at, Math.min(total, at + chunk)));
  return { stream: Readable.from(parts), data };
}

/**
 * The one ObjectStore suite: every implementation must pass the same assertions. `setup` is called
 * once per test and must give a store on a location nobody else uses.
 */
export function describeObjectStore(label: string, setup: () => Promise<ContractSubject>): void {
  describe(`ObjectStore contract: ${label}`, () => {
    let subject: ContractSubject;
    let store: ObjectStore;
    beforeEach(async () => {
      subject = await setup();
      store = subject.store;
    });

    test('put then get round-trips text with the written generation, size and md5', async () => {
      const text = 'état: ok\n';
      const written = await store.put('a/state.json', text);
      expect(written).toEqual({
        key: 'a/state.json',
        generation: expect.any(String),
        size: Buffer.byteLength(text),
        md5: md5(text),
      });
      const read = await store.get('a/state.json');
      expect(read?.data.toString('utf8')).toBe(text);
      expect(read?.generation).toBe(written.generation);
    });

    test('get of a missing key is null', async () => {
      expect(await store.get('nothing/here.json')).toBeNull();
    });

    test('binary data and empty objects come back byte for byte', async () => {
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const random = randomBytes(100_003);
      const data = Buffer.concat([every, random, every]);
      const written = await store.put('bin/blob.bin', data);
      expect(written.md5).toBe(md5(data));
      expect((await store.get('bin/blob.bin'))?.data.equals(data)).toBe(true);
      const empty = await store.put('bin/empty', '');
      expect(empty.size).toBe(0);
      expect((await store.get('bin/empty'))?.data.length).toBe(0);
    });

    test('an overwrite changes the generation and a second handle sees it', async () => {
      const first = await store.put('k.txt', 'one');
      const second = await store.put('k.txt', 'two');
      expect(second.generation).not.toBe(first.generation);
      const other = await subject.reopen();
      const read = await other.get('k.txt');
      expect(read).toEqual({ data: Buffer.from('two'), generation: second.generation });
    });

    test('ifGenerationMatch 0 creates only if absent', async () => {
      const created = await store.put('lock', 'mine', { ifGenerationMatch: 0 });
      const error = await rejectsWithCode(
        store.put('lock', 'theirs', { ifGenerationMatch: 0 }),
        'STORE_PRECONDITION',
      );
      expect(error).toBeInstanceOf(PreconditionFailedError);
      expect(isPreconditionFailed(error)).toBe(true);
      expect(await store.get('lock')).toEqual({ data: Buffer.from('mine'), generation: created.generation });
    });

    test('compare-and-swap succeeds on the current generation and fails on a stale one', async () => {
      const v1 = await store.put('cas.json', '1');
      const v2 = await store.put('cas.json', '2', { ifGenerationMatch: v1.generation });
      expect(v2.generation).not.toBe(v1.generation);
      await rejectsWithCode(
        store.put('cas.json', 'stale', { ifGenerationMatch: v1.generation }),
        'STORE_PRECONDITION',
      );
      expect((await store.get('cas.json'))?.data.toString()).toBe('2');
      // A non-zero generation on an absent object cannot match either.
      await rejectsWithCode(
        store.put('absent.json', 'x', { ifGenerationMatch: v1.generation }),
        'STORE_PRECONDITION',
      );
      expect(await store.get('absent.json')).toBeNull();
    });

    test('readJson and putJson round-trip through generations', async () => {
      const first = await putJson(store, 'doc.json', { n: 1 }, { ifGenerationMatch: 0 });
      const read = await readJson<{ n: number }>(store, 'doc.json');
      expect(read).toEqual({ value: { n: 1 }, generation: first.generation });
      expect(await readJson(store, 'missing.json')).toBeNull();
    });

    test('delete removes, reports absence and honours its precondition', async () => {
      const v1 = await store.put('d/one', '1');
      expect(await store.delete('d/one')).toBe(true);
      expect(await store.get('d/one')).toBeNull();
      expect(await store.delete('d/one')).toBe(false);

      const v2 = await store.put('d/two', '2');
      await rejectsWithCode(
        store.delete('d/two', { ifGenerationMatch: v1.generation }),
        'STORE_PRECONDITION',
      );
      expect((await store.get('d/two'))?.generation).toBe(v2.generation);
      expect(await store.delete('d/two', { ifGenerationMatch: v2.generation })).toBe(true);
      expect(await store.get('d/two')).toBeNull();
      await rejectsWithCode(
        store.delete('d/two', { ifGenerationMatch: v2.generation }),
        'STORE_PRECONDITION',
      );
      expect(await store.delete('d/two', { ifGenerationMatch: 0 })).toBe(false);
    });

    test('list yields every key under a prefix, in lexicographic order, with size and generation', async () => {
      const names = ['b/2.json', 'a/x/deep/1', 'a/b.json', 'a/bc/d', 'a/c', 'a-z', 'a/b/inner', 'top'];
      const written = new Map<string, string>();
      for (const name of names) written.set(name, (await store.put(name, `<${name}>`)).generation);

      expect(await keys(store, '')).toEqual([...names].sort());
      expect(await keys(store, 'a/')).toEqual(['a/b.json', 'a/b/inner', 'a/bc/d', 'a/c', 'a/x/deep/1']);
      expect(await keys(store, 'a/b')).toEqual(['a/b.json', 'a/b/inner', 'a/bc/d']);
      expect(await keys(store, 'a/x/deep/')).toEqual(['a/x/deep/1']);
      expect(await keys(store, 'nope/')).toEqual([]);
      expect(await keys(store, 'a/zz')).toEqual([]);

      const infos = [];
      for await (const info of store.list('a/b')) infos.push(info);
      for (const info of infos) {
        expect(info.size).toBe(Buffer.byteLength(`<${info.key}>`));
        expect(info.generation).toBe(written.get(info.key));
        expect(Number.isNaN(Date.parse(info.updated))).toBe(false);
      }
    });

    test('scope() roots a store below a prefix', async () => {
      const reports = store.scope('reports/');
      expect(reports.location).toBe(`${store.location}/reports`);
      expect(store.scope('')).toBe(store);
      await reports.put('2026/latest.json', '{}');
      await store.put('other/x', 'x');
      expect(await keys(store, 'reports/')).toEqual(['reports/2026/latest.json']);
      expect(await keys(reports, '')).toEqual(['2026/latest.json']);
      expect((await store.get('reports/2026/latest.json'))?.data.toString()).toBe('{}');
      expect(await store.scope('/reports/2026').get('latest.json')).not.toBeNull();
      expect(() => store.scope('../escape')).toThrow(expect.objectContaining({ code: 'STORE_KEY_INVALID' }));
    });

    test('putStream writes a multi-MB stream with the right size and md5', async () => {
      const total = 5 * 1024 * 1024 + 12_345;
      const { stream, data } = byteStream(total);
      const written = await store.putStream('raw/big.bin', stream, {
        contentType: 'application/octet-stream',
      });
      expect(written).toEqual({
        key: 'raw/big.bin',
        generation: expect.any(String),
        size: total,
        md5: md5(data),
      });
      const read = await store.get('raw/big.bin');
      expect(read?.generation).toBe(written.generation);
      expect(read?.data.equals(data)).toBe(true);

      async function* generated(): AsyncIterable<Uint8Array> {
        yield new Uint8Array([1, 2, 3]);
        yield new Uint8Array(0);
        yield new Uint8Array([4]);
      }
      const small = await store.putStream('raw/small.bin', generated());
      expect(small.size).toBe(4);
      expect((await store.get('raw/small.bin'))?.data).toEqual(Buffer.from([1, 2, 3, 4]));
    });

    test('putStream honours ifGenerationMatch', async () => {
      const total = 3 * 1024 * 1024;
      const first = await store.putStream('raw/once.bin', byteStream(total).stream, { ifGenerationMatch: 0 });
      await rejectsWithCode(
        store.putStream('raw/once.bin', byteStream(total, 1000).stream, { ifGenerationMatch: 0 }),
        'STORE_PRECONDITION',
      );
      const second = await store.putStream('raw/once.bin', byteStream(total).stream, {
        ifGenerationMatch: first.generation,
      });
      expect((await store.get('raw/once.bin'))?.generation).toBe(second.generation);
    });

    test.each([
      ['empty', ''],
      ['absolute', '/etc/passwd'],
      ['empty segment', 'a//b'],
      ['parent', '../x'],
      ['dot segment', 'a/./b'],
      ['backslash', 'a\\b'],
      ['NUL', 'a\0b'],
      ['reserved lock name', 'a/.b.lock'],
      ['reserved temp name', '.c.tmp'],
    ])('rejects an invalid key (%s) on every operation', async (_label, key) => {
      await rejectsWithCode(store.put(key, 'x'), 'STORE_KEY_INVALID');
      await rejectsWithCode(store.putStream(key, Readable.from([Buffer.from('x')])), 'STORE_KEY_INVALID');
      await rejectsWithCode(store.get(key), 'STORE_KEY_INVALID');
      await rejectsWithCode(store.delete(key), 'STORE_KEY_INVALID');
      expect(await keys(store, '')).toEqual([]);
    });

    test('concurrent compare-and-swap increments are never lost', async () => {
      const workers = 6;
      const rounds = 4;
      await store.put('counter', '0');
      const handles = await Promise.all(Array.from({ length: workers }, () => subject.reopen()));
      const increment = async (handle: ObjectStore): Promise<void> => {
        for (;;) {
          const current = await handle.get('counter');
          if (!current) throw new Error('counter vanished');
          const next = String(Number(current.data.toString()) + 1);
          try {
            await handle.put('counter', next, { ifGenerationMatch: current.generation });
            return;
          } catch (error) {
            if (!isPreconditionFailed(error)) throw error;
          }
        }
      };
      await Promise.all(
        handles.map(async (handle) => {
          for (let i = 0; i < rounds; i++) await increment(handle);
        }),
      );
      expect((await store.get('counter'))?.data.toString()).toBe(String(workers * rounds));
    });

    test('errors are SchedulerErrors with stable codes', async () => {
      const error = await store
        .put('x', 'y', { ifGenerationMatch: 0 })
        .then(() => store.put('x', 'z', { ifGenerationMatch: 0 }).catch((e: unknown) => e));
      expect(isSchedulerError(error, 'STORE_PRECONDITION')).toBe(true);
      expect((error as Error).message).toContain(`${store.location}/x`);
    });
  });
}
