import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { GcsStoreOptions } from '../../src/store/gcs-store';
import { PreconditionFailedError, type ObjectStore } from '../../src/store/types';
import { FakeClock } from '../support/fake-clock';
import { startGcsServer, type Fault, type GcsOp, type GcsServer } from '../support/gcs-server';
import { rejection } from '../support/rejection';
import { openOnServer } from '../support/stores';

// The Cloud Storage store against injected faults: retries, budgets, the three shapes of 412,
// ambiguous conditional writes, resumable uploads resuming, pagination, missing buckets.

const BUCKET = 'fault-bucket';
let server: GcsServer;
beforeAll(async () => {
  server = await startGcsServer({ pageSize: 2 });
  server.createBucket(BUCKET);
});
afterAll(() => server.close());

let n = 0;
const open = (prefix: string, options: GcsStoreOptions = {}): Promise<ObjectStore> =>
  openOnServer(server, `gs://${BUCKET}/${prefix}`, options);

const KIB_256 = 256 * 1024;
const RETRY = { budgetMs: 5_000, minBackoffMs: 100, maxBackoffMs: 1_000 };

function bytes(total: number, seed = 7): Buffer {
  const data = Buffer.alloc(total);
  for (let i = 0; i < total; i++) data[i] = (i * seed + (i >> 10)) & 0xff;
  return data;
}

async function collect(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out;
}

describe('GcsObjectStore against a misbehaving server', () => {
  let clock: FakeClock;
  let store: ObjectStore;
  let prefix: string;
  let mark: number;
  /** Requests since the test began, of one kind, as "status" strings. */
  const statuses = (op: GcsOp): (number | string)[] =>
    server.requests
      .slice(mark)
      .filter((r) => r.op === op)
      .map((r) => r.status);

  beforeEach(async () => {
    clock = new FakeClock();
    prefix = `faults/t${++n}`;
    store = await open(prefix, { clock, retry: RETRY });
    mark = server.requests.length;
  });
  afterEach(() => {
    server.clearFaults();
    server.onRequest = null;
    server.omitGenerationHeader = false;
  });

  describe.each([
    ['503', { status: 503 } as Fault, 503],
    ['429', { status: 429 } as Fault, 429],
    ['a connection reset', 'reset' as Fault, 'reset'],
  ])('one %s, then success, is retried once after a short wait', (_label, fault, seen) => {
    test.each([
      ['get', 'object.media' as GcsOp],
      ['put', 'upload.multipart' as GcsOp],
      ['list', 'object.list' as GcsOp],
      ['delete', 'object.delete' as GcsOp],
    ])('%s', async (operation, op) => {
      const written = await store.put('k.json', '{"v":1}');
      mark = server.requests.length;
      server.failNext(1, fault, { op });
      if (operation === 'get') expect((await store.get('k.json'))?.generation).toBe(written.generation);
      if (operation === 'put')
        expect((await store.put('k.json', 'v2')).generation).not.toBe(written.generation);
      if (operation === 'list') expect(await collect(store, '')).toEqual(['k.json']);
      if (operation === 'delete') expect(await store.delete('k.json')).toBe(true);
      expect(statuses(op)).toEqual([seen, operation === 'delete' ? 204 : 200]);
      expect(clock.sleeps).toHaveLength(1);
      expect(clock.sleeps[0]).toBeLessThan(RETRY.minBackoffMs);
    });
  });

  test('a request that outlives the per-request timeout is abandoned and retried', async () => {
    const quick = await open(prefix, { clock, retry: RETRY, requestTimeoutMs: 1_000 });
    await quick.put('slow.txt', 'patience');
    mark = server.requests.length;
    server.failNext(1, { delayMs: 20_000 }, { op: 'object.media' });
    expect((await quick.get('slow.txt'))?.data.toString()).toBe('patience');
    expect(statuses('object.media')).toEqual(['client-closed', 200]);
  });

  test('retries stop once the time budget is spent: STORE_UNAVAILABLE naming the operation and object', async () => {
    await store.put('down.json', '{}');
    mark = server.requests.length;
    const started = clock.now();
    server.failNext(1000, { status: 503 }, { op: 'object.media' });
    const error = await rejection(store.get('down.json'));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toContain(`get gs://${BUCKET}/${prefix}/down.json`);
    expect(error.message).toContain('HTTP 503');
    const attempts = statuses('object.media').length;
    expect(attempts).toBeGreaterThan(3);
    expect(server.pendingFaults()).toBe(1000 - attempts);
    expect(clock.sleeps).toHaveLength(attempts - 1);
    expect(clock.now() - started).toBeLessThanOrEqual(RETRY.budgetMs);
    for (const [i, ms] of clock.sleeps.entries()) {
      expect(ms).toBeLessThan(Math.min(RETRY.maxBackoffMs, RETRY.minBackoffMs * 2 ** i));
    }
  });

  test.each([
    [403, 'STORE_FORBIDDEN', 'permission denied (HTTP 403)'],
    [401, 'AUTH_NO_CREDENTIALS', 'rejected the credentials (HTTP 401)'],
    [400, 'STORE_UNAVAILABLE', 'failed: HTTP 400'],
  ])('HTTP %i is not retried and maps to %s', async (status, code, text) => {
    server.failNext(1, { status }, { op: 'upload.multipart' });
    const error = await rejection(store.put('nope.json', '{}'));
    expect(error.code).toBe(code);
    expect(error.message).toContain(text);
    expect(error.message).toContain(`gs://${BUCKET}/${prefix}/nope.json`);
    expect(statuses('upload.multipart')).toEqual([status]);
    expect(clock.sleeps).toEqual([]);
  });

  describe('each path a 412 can take maps to PreconditionFailedError', () => {
    test('multipart upload', async () => {
      await store.put('p.json', 'first');
      mark = server.requests.length;
      const error = await rejection(store.put('p.json', 'second', { ifGenerationMatch: 0 }));
      expect(error).toBeInstanceOf(PreconditionFailedError);
      expect(error.code).toBe('STORE_PRECONDITION');
      expect(statuses('upload.multipart')).toEqual([412]);
    });

    test('resumable upload, refused when the session starts', async () => {
      await store.put('p.bin', 'first');
      mark = server.requests.length;
      const error = await rejection(
        store.putStream('p.bin', Readable.from([bytes(3 * KIB_256)]), { ifGenerationMatch: 0 }),
      );
      expect(error).toBeInstanceOf(PreconditionFailedError);
      expect(statuses('upload.start')).toEqual([412]);
      expect(statuses('upload.chunk')).toEqual([]);
    });

    test('resumable upload, refused on the final PUT because another writer got there first', async () => {
      const name = `${prefix}/race.bin`;
      server.onRequest = (request) => {
        if (request.op === 'upload.chunk' && server.object(BUCKET, name) === undefined) {
          server.putObject(BUCKET, name, 'theirs');
        }
      };
      const error = await rejection(
        store.putStream('race.bin', Readable.from([bytes(3 * KIB_256)]), { ifGenerationMatch: 0 }),
      );
      expect(error).toBeInstanceOf(PreconditionFailedError);
      expect(statuses('upload.start')).toEqual([200]);
      expect(statuses('upload.chunk')).toEqual([308, 308, 412]);
      expect(server.object(BUCKET, name)?.data.toString()).toBe('theirs');
    });
  });

  describe('a conditional write retried after an ambiguous failure', () => {
    test('that had in fact been applied succeeds with the generation it created', async () => {
      server.failNext(1, { status: 503, afterApply: true }, { op: 'upload.multipart' });
      const written = await store.put('lease.json', '{"holder":"me"}', { ifGenerationMatch: 0 });
      expect(written.generation).toBe(server.object(BUCKET, `${prefix}/lease.json`)?.generation);
      expect(statuses('upload.multipart')).toEqual([503, 412]);
      expect(statuses('object.get')).toEqual([200]);
    });

    test('that had not been applied, while another writer wrote, is a precondition failure', async () => {
      const name = `${prefix}/lease.json`;
      server.failNext(1, 'reset', { op: 'upload.multipart' });
      server.onRequest = (request) => {
        if (request.op === 'upload.multipart' && !server.object(BUCKET, name))
          server.putObject(BUCKET, name, 'theirs');
      };
      // The writer above runs on the first request, which is then reset: it lands before our retry.
      const error = await rejection(store.put('lease.json', 'mine', { ifGenerationMatch: 0 }));
      expect(error.code).toBe('STORE_PRECONDITION');
      expect(server.object(BUCKET, name)?.data.toString()).toBe('theirs');
    });

    test('a delete whose first attempt was applied reports true', async () => {
      const written = await store.put('gone.json', '{}');
      mark = server.requests.length;
      server.failNext(1, { status: 503, afterApply: true }, { op: 'object.delete' });
      expect(await store.delete('gone.json', { ifGenerationMatch: written.generation })).toBe(true);
      expect(statuses('object.delete')).toEqual([503, 404]);
      expect(server.object(BUCKET, `${prefix}/gone.json`)).toBeUndefined();
    });
  });

  describe('resumable uploads resume from what the session holds', () => {
    const data = bytes(5 * KIB_256 + 1000);
    const md5 = createHash('md5').update(data).digest('hex');

    test('a 503 on a middle chunk: the status query says where to resume', async () => {
      server.failNext(
        1,
        { status: 503 },
        { op: 'upload.chunk', test: (r) => /^bytes 524288-/.test(String(r.headers['content-range'])) },
      );
      const written = await store.putStream('resume.bin', Readable.from([data]));
      expect(written).toMatchObject({ size: data.length, md5 });
      expect(server.object(BUCKET, `${prefix}/resume.bin`)?.data.equals(data)).toBe(true);
      expect(statuses('upload.start')).toEqual([200]);
      expect(statuses('upload.status')).toEqual([308]);
      expect(statuses('upload.chunk')).toEqual([308, 308, 503, 308, 308, 308, 200]);
    });

    test('a reset after a middle chunk was stored: nothing is sent twice', async () => {
      server.failNext(
        1,
        { reset: true, afterApply: true },
        { op: 'upload.chunk', test: (r) => /^bytes 262144-/.test(String(r.headers['content-range'])) },
      );
      const written = await store.putStream('resume.bin', Readable.from([data]));
      expect(written.md5).toBe(md5);
      expect(server.object(BUCKET, `${prefix}/resume.bin`)?.data.equals(data)).toBe(true);
      const ranges = server.requests
        .slice(mark)
        .filter((r) => r.op === 'upload.chunk')
        .map((r) => String(r.headers['content-range']).replace(/-.*/, ''));
      expect(ranges).toEqual([
        'bytes 0',
        'bytes 262144',
        'bytes 524288',
        'bytes 786432',
        'bytes 1048576',
        'bytes 1310720',
      ]);
    });

    test('a reset after the final chunk completed the object: the session answers the object', async () => {
      server.failNext(
        1,
        { reset: true, afterApply: true },
        // The final chunk is the one that states the total size.
        { op: 'upload.chunk', test: (r) => /\/\d+$/.test(String(r.headers['content-range'])) },
      );
      const written = await store.putStream('resume.bin', Readable.from([data]), { ifGenerationMatch: 0 });
      expect(written.generation).toBe(server.object(BUCKET, `${prefix}/resume.bin`)?.generation);
      expect(statuses('upload.status')).toEqual([200]);
    });

    test('when the budget runs out, the error carries no session URI', async () => {
      server.failNext(1000, 'reset', { op: 'upload.chunk' });
      const error = await rejection(store.putStream('resume.bin', Readable.from([data])));
      expect(error.code).toBe('STORE_UNAVAILABLE');
      expect(error.message).toContain(`put gs://${BUCKET}/${prefix}/resume.bin`);
      const everything = JSON.stringify({
        message: error.message,
        cause: String((error as { cause?: unknown }).cause),
      });
      expect(everything).not.toContain('upload_id');
    });

    test('a chunk whose reply never comes is abandoned at the request timeout and resumed', async () => {
      const quick = await open(prefix, {
        clock,
        retry: RETRY,
        requestTimeoutMs: 1_000,
        uploadChunkBytes: KIB_256,
      });
      server.failNext(
        1,
        { delayMs: 20_000 },
        { op: 'upload.chunk', test: (r) => /^bytes 262144-/.test(String(r.headers['content-range'])) },
      );
      const written = await quick.putStream('slow.bin', Readable.from([data]));
      expect(written.md5).toBe(md5);
      expect(server.object(BUCKET, `${prefix}/slow.bin`)?.data.equals(data)).toBe(true);
      expect(statuses('upload.chunk')).toEqual([308, 'client-closed', 308, 308, 308, 308, 200]);
    });

    test("the source's own failure is passed on as it is, never retried", async () => {
      const broken = Object.assign(new Error('upstream reset'), { code: 'ECONNRESET' });
      async function* source(): AsyncIterable<Uint8Array> {
        yield data.subarray(0, 3 * KIB_256);
        yield data.subarray(3 * KIB_256, 4 * KIB_256);
        throw broken;
      }
      await expect(store.putStream('half.bin', source())).rejects.toBe(broken);
      expect(clock.sleeps).toEqual([]);
      expect(server.object(BUCKET, `${prefix}/half.bin`)).toBeUndefined();
    });

    test('a buffer larger than one chunk goes up resumably too', async () => {
      const written = await store.put('big.bin', data);
      expect(written).toMatchObject({ size: data.length, md5 });
      expect(statuses('upload.start')).toEqual([200]);
      expect(statuses('upload.multipart')).toEqual([]);
    });
  });

  test('pagination: every page is fetched, in order', async () => {
    const names = ['p/a', 'p/b', 'p/c', 'p/d', 'p/e', 'p/f', 'p/g'];
    for (const name of names) await store.put(name, name);
    mark = server.requests.length;
    expect(await collect(store, 'p/')).toEqual(names);
    const pages = server.requests.slice(mark).filter((r) => r.op === 'object.list');
    expect(pages).toHaveLength(4);
    expect(pages.map((r) => r.query.pageToken !== undefined)).toEqual([false, true, true, true]);

    server.pageSize = 1000;
    try {
      const small = await open(prefix, { listPageSize: 3 });
      mark = server.requests.length;
      expect(await collect(small, 'p/')).toEqual(names);
      const asked = server.requests.slice(mark).filter((r) => r.op === 'object.list');
      expect(asked.map((r) => r.query.maxResults)).toEqual(['3', '3', '3']);
    } finally {
      server.pageSize = 2;
    }
  });

  test('without x-goog-generation on downloads, get pins the generation it read', async () => {
    const written = await store.put('pin.json', '{"a":1}');
    server.omitGenerationHeader = true;
    mark = server.requests.length;
    expect(await store.get('pin.json')).toEqual({
      data: Buffer.from('{"a":1}'),
      generation: written.generation,
    });
    const media = server.requests.slice(mark).filter((r) => r.op === 'object.media');
    expect(media.map((r) => r.query.generation)).toEqual([undefined, written.generation]);
  });

  test('without x-goog-generation, an object replaced between metadata and data is read again', async () => {
    await store.put('moving.json', 'old');
    server.omitGenerationHeader = true;
    let newer = '';
    server.onRequest = (request) => {
      if (request.op === 'object.media' && request.query.generation !== undefined && newer === '') {
        newer = server.putObject(BUCKET, `${prefix}/moving.json`, 'new');
      }
    };
    expect(await store.get('moving.json')).toEqual({ data: Buffer.from('new'), generation: newer });
    expect(clock.sleeps).toHaveLength(1);
  });

  test('a missing bucket is STORE_NOT_FOUND on every operation', async () => {
    const missing = await openOnServer(server, 'gs://no-such-bucket/p', { clock, retry: RETRY });
    const expected = {
      code: 'STORE_NOT_FOUND',
      message: expect.stringContaining('bucket no-such-bucket does not exist (or you lack access)'),
    };
    await expect(missing.get('a')).rejects.toMatchObject(expected);
    await expect(missing.put('a', 'x')).rejects.toMatchObject(expected);
    await expect(missing.putStream('a', Readable.from([bytes(40 * KIB_256)]))).rejects.toMatchObject(
      expected,
    );
    await expect(missing.delete('a')).rejects.toMatchObject(expected);
    await expect(collect(missing, '')).rejects.toMatchObject(expected);
    expect(clock.sleeps).toEqual([]);
  });

  test('uploadChunkBytes must be a multiple of 256 KiB', async () => {
    await expect(open(prefix, { uploadChunkBytes: 1000 })).rejects.toThrow('multiple of 262144');
  });
});
