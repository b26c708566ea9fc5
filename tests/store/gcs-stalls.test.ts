import { LeaseManager } from '../../src/lease/lease';
import type { GcsStoreOptions } from '../../src/store/gcs-store';
import { readJson, type ObjectStore } from '../../src/store/types';
import { FakeClock } from '../support/fake-clock';
import {
  startGcsServer,
  type Fault,
  type GcsOp,
  type GcsRequest,
  type GcsServer,
} from '../support/gcs-server';
import { captureLogger } from '../support/services';
import { openOnServer } from '../support/stores';
import { until } from '../support/wait';

// Every Cloud Storage call ends: a server that answers its headers and then stalls (the "stall after
// headers" fault) is abandoned after the store's timeout, on the store's clock, and the call retried.

const BUCKET = 'stall-bucket';
const STALL_MS = 15_000;
const RETRY = { budgetMs: 60_000, minBackoffMs: 100, maxBackoffMs: 1_000 };
let server: GcsServer;
beforeAll(async () => {
  server = await startGcsServer();
  server.createBucket(BUCKET);
});
afterAll(() => server.close());
afterEach(() => server.clearFaults());

let n = 0;
async function setup(options: GcsStoreOptions = {}) {
  const clock = new FakeClock();
  const store = await openOnServer(server, `gs://${BUCKET}/stalls/t${++n}`, {
    clock,
    retry: RETRY,
    ...options,
  });
  const mark = server.requests.length;
  const statuses = (op: GcsOp) =>
    server.requests
      .slice(mark)
      .filter((r) => r.op === op)
      .map((r) => r.status);
  /** Waits until the stalled request has reached the server, then lets the store's clock run past the limit. */
  const stallFor = async (op: GcsOp, ms: number) => {
    await until(
      () => server.requests.slice(mark).some((r) => r.op === op && r.fault !== undefined),
      `the stalled ${op} request`,
    );
    clock.advance(ms);
  };
  return { clock, store, statuses, stallFor };
}

describe('a Cloud Storage answer that stalls after its headers', () => {
  it.each([
    ['with no body byte', 0],
    ['after a few body bytes', 5],
  ])('get: the download is aborted %s and retried', async (_label, bytes) => {
    const { clock, store, statuses } = await setup();
    await store.put('lease.json', '{"holder":"exec-1"}');
    server.failNext(1, { stallAfterHeaders: true, bytes }, { op: 'object.media' });
    const read = store.get('lease.json');
    await until(() => statuses('object.media').length === 1, 'the stalled download request');
    // The download re-arms its stall timer on every sign of progress: once the clock has moved, a
    // timer due a full stall time from now shows that the headers have reached the client.
    clock.advance(1);
    await until(() => clock.nextDueAt() === clock.now() + STALL_MS, 'the headers at the client');
    clock.advance(STALL_MS);
    expect((await read)?.data.toString()).toBe('{"holder":"exec-1"}');
    await until(() => statuses('object.media')[0] === 'client-closed', 'the stalled connection closed');
    expect(statuses('object.media')).toEqual(['client-closed', 200]);
  });

  // Given up before the answer came, the download cannot be cancelled through the client: its answer,
  // when it comes, is piped into a stream already destroyed. On Node >= 23 that pipe threw an uncaught
  // ERR_STREAM_UNABLE_TO_PIPE and left the connection open.
  it('get: a download given up before its answer is retried, and the late answer closed', async () => {
    const { clock, store, statuses } = await setup();
    await store.put('lease.json', '{"holder":"exec-1"}');
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let first: GcsRequest | undefined;
    server.onRequest = async (request) => {
      if (request.op !== 'object.media' || first !== undefined) return;
      first = request;
      await held;
    };
    server.failNext(1, { stallAfterHeaders: true }, { op: 'object.media', test: (r) => r === first });
    try {
      const read = store.get('lease.json');
      await until(() => first !== undefined, 'the first download request');
      clock.advance(STALL_MS);
      expect((await read)?.data.toString()).toBe('{"holder":"exec-1"}');
      release();
      await until(() => statuses('object.media')[0] === 'client-closed', 'the late answer closed');
      expect(statuses('object.media')).toEqual(['client-closed', 200]);
    } finally {
      release();
      server.onRequest = null;
    }
  });

  it.each([
    ['list', 'object.list' as GcsOp, { stallAfterHeaders: true, bytes: 3 } as Fault],
    // A 204 has no body to stall in: this delete gets no answer at all.
    ['delete', 'object.delete' as GcsOp, { delayMs: 600_000 } as Fault],
  ])('%s: the call is abandoned and retried', async (operation, op, fault) => {
    const { store, statuses, stallFor } = await setup();
    await store.put('k.json', '{}');
    server.failNext(1, fault, { op });
    const call =
      operation === 'list'
        ? (async () => {
            const keys: string[] = [];
            for await (const info of store.list('')) keys.push(info.key);
            return keys;
          })()
        : store.delete('k.json');
    await stallFor(op, STALL_MS);
    // A delete applied before its answer stalled is found done on the retry: true, as for a reset.
    expect(await call).toEqual(operation === 'list' ? ['k.json'] : true);
    expect(statuses(op)).toHaveLength(2);
  });

  it('put: a conditional write whose answer stalled is retried, and found to have landed', async () => {
    const { store, statuses, stallFor } = await setup({ requestTimeoutMs: 20_000 });
    const first = await store.put('marker.json', '{"v":1}');
    server.failNext(1, { stallAfterHeaders: true }, { op: 'upload.multipart' });
    const write = store.put('marker.json', '{"v":2}', { ifGenerationMatch: first.generation });
    await stallFor('upload.multipart', 20_000);
    const written = await write;
    expect(written.generation).toBe(server.object(BUCKET, `stalls/t${n}/marker.json`)!.generation);
    // The first write, the stalled one (applied), and its retry refused because it had landed.
    expect(statuses('upload.multipart')).toEqual([200, 200, 412]);
    expect(server.pendingFaults()).toBe(0);
  });

  it('a lease read behind a stalled download still acquires the lease', async () => {
    const { clock, store, stallFor } = await setup();
    const leases = new LeaseManager(store, clock, captureLogger().logger, () => 0.5);
    const first = await leases.tryAcquire('group-g', 'exec-1/xmp/aaaa', 30_000);
    if (!first.acquired) throw new Error('expected the lease');
    await first.lease.release();
    await store.put('leases/group-g.json', JSON.stringify({ holder: 'exec-0/x/0', expiresAt: 0 }));
    server.failNext(1, { stallAfterHeaders: true }, { op: 'object.media', object: /group-g/ });
    const taking = leases.tryAcquire('group-g', 'exec-2/xmp-daily/bbbb', 30_000);
    await stallFor('object.media', STALL_MS);
    expect(await taking).toMatchObject({ acquired: true, lease: { holder: 'exec-2/xmp-daily/bbbb' } });
    const stored = await readJson<{ holder: string }>(store as ObjectStore, 'leases/group-g.json');
    expect(stored?.value.holder).toBe('exec-2/xmp-daily/bbbb');
  });
});
