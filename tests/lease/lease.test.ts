import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { LEASE_CLOCK_SKEW_MS, LeaseManager } from '../../src/lease/lease';
import { openStore } from '../../src/store/open';
import { FakeClock } from '../support/fake-clock';
import { failingWrites } from '../support/failing-store';
import { captureLogger } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { until } from '../support/wait';

describe.each(STORE_KINDS)('leases on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());

  let n = 0;
  const manager = async (clock: FakeClock) =>
    new LeaseManager(await openStore(storage.uri(`state-${kind}`)), clock, captureLogger().logger, () => 0.5);
  const leaseName = () => `group-g${++n}`;

  it('is exclusive: a second holder is told who has it', async () => {
    const clock = new FakeClock();
    const leases = await manager(clock);
    const name = leaseName();
    const first = await leases.tryAcquire(name, 'exec-1/xmp/aaaa', 60_000);
    expect(first.acquired).toBe(true);
    const second = await leases.tryAcquire(name, 'exec-2/xmp-daily/bbbb', 60_000);
    expect(second).toMatchObject({
      acquired: false,
      holder: { holder: 'exec-1/xmp/aaaa', executionId: 'exec-1' },
    });
    if (first.acquired) await first.lease.release();
    expect((await leases.tryAcquire(name, 'exec-2/xmp-daily/bbbb', 60_000)).acquired).toBe(true);
  });

  it('is renewed while held, so it does not expire under a long run', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const leases = await manager(clock);
    const name = leaseName();
    const held = await leases.tryAcquire(name, 'exec-1/xmp/aaaa', 30_000);
    expect(held.acquired).toBe(true);
    // Ten renewal periods; after each, the test waits until the renewal is in the store.
    for (let i = 0; i < 10; i++) {
      clock.advance(10_000);
      await until(async () => (await leases.current(name))?.expiresAt === clock.now() + 30_000);
    }
    expect(await leases.current(name)).toMatchObject({ holder: 'exec-1/xmp/aaaa' });
    expect((await leases.tryAcquire(name, 'exec-2/x/bbbb', 30_000)).acquired).toBe(false);
    if (held.acquired) await held.lease.release();
    expect(await leases.current(name)).toBeNull();
  });

  it('waits up to its wait time, then gives up with the holder', async () => {
    const clock = new FakeClock();
    const leases = await manager(clock);
    const name = leaseName();
    await leases.tryAcquire(name, 'exec-1/xmp/aaaa', 600_000);
    const t0 = clock.now();
    const result = await leases.acquire(name, 'exec-2/xmp-daily/bbbb', { ttlMs: 60_000, waitMs: 30_000 });
    expect(result).toMatchObject({ acquired: false, holder: { executionId: 'exec-1' } });
    expect(clock.now() - t0).toBe(30_000);
  });

  it('is taken when its holder releases it during the wait', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const leases = await manager(clock);
    const name = leaseName();
    const first = await leases.tryAcquire(name, 'exec-1/xmp/aaaa', 600_000);
    const waiting = leases.acquire(name, 'exec-2/xmp-daily/bbbb', { ttlMs: 60_000, waitMs: 60_000 });
    if (first.acquired) await first.lease.release();
    clock.advance(5_000);
    expect(await waiting).toMatchObject({ acquired: true, lease: { holder: 'exec-2/xmp-daily/bbbb' } });
  });

  it('expires on its own when its holder is killed with SIGKILL, and is then taken over', async () => {
    const name = leaseName();
    const script = path.resolve(__dirname, '../support/processes/hold-lease.js');
    const child = spawn(
      process.execPath,
      [script, storage.uri(`state-${kind}`), name, 'exec-dead/xmp/dead', '30000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        // jest gives each test file its own process.env; a child only sees what is passed.
        env: { ...process.env },
      },
    );
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    expect(line.toString().trim()).toBe('held');
    const killedAt = Date.now();
    child.kill('SIGKILL');
    // Killed while holding the lease, not exited on its own before the kill.
    expect(await once(child, 'exit')).toEqual([null, 'SIGKILL']);

    // Time, not a sleep: a clock set before the lease's expiry sees it held, one set after sees it free.
    const early = await manager(new FakeClock(killedAt + 5_000));
    expect(await early.tryAcquire(name, 'exec-2/xmp-daily/bbbb', 60_000)).toMatchObject({
      acquired: false,
      holder: { holder: 'exec-dead/xmp/dead' },
    });
    const { logger, entries } = captureLogger();
    const late = new LeaseManager(
      await openStore(storage.uri(`state-${kind}`)),
      new FakeClock(killedAt + 30_000 + LEASE_CLOCK_SKEW_MS + 1_000),
      logger,
    );
    expect(await late.tryAcquire(name, 'exec-2/xmp-daily/bbbb', 60_000)).toMatchObject({ acquired: true });
    expect(
      entries.some((e) => /taken over from exec-dead\/xmp\/dead, which let it expire/.test(e.message)),
    ).toBe(true);
  });

  it('lets exactly one of many concurrent contenders in', async () => {
    const clock = new FakeClock();
    const name = leaseName();
    const contenders = await Promise.all(Array.from({ length: 12 }, () => manager(clock)));
    const results = await Promise.all(
      contenders.map((l, i) => l.tryAcquire(name, `exec-${i}/c/${i}`, 60_000)),
    );
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
  });

  it('notices when it was lost after expiring, and does not delete the new holder at release', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const leases = await manager(clock);
    const name = leaseName();
    const first = await leases.tryAcquire(name, 'exec-1/a/1', 30_000);
    // Someone whose clock is far ahead (beyond the skew allowed) takes it over while the first holder is stalled.
    const ahead = await manager(new FakeClock(clock.now() + 30_000 + LEASE_CLOCK_SKEW_MS + 1_000));
    expect((await ahead.tryAcquire(name, 'exec-2/b/2', 30_000)).acquired).toBe(true);
    clock.advance(10_000);
    await new Promise((r) => setImmediate(r));
    if (!first.acquired) throw new Error('expected the first lease');
    await first.lease.release();
    expect(first.lease.lost.aborted).toBe(true);
    expect(await ahead.current(name)).toMatchObject({ holder: 'exec-2/b/2' });
  });

  it('is given up by a holder that cannot renew it, the skew margin before it expires; nobody takes it until the margin after', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const state = failingWrites(await openStore(storage.uri(`state-${kind}`)));
    const { logger, entries } = captureLogger();
    const leases = new LeaseManager(state.store, clock, logger, () => 0.5);
    const name = leaseName();
    const held = await leases.tryAcquire(name, 'exec-1/xmp/aaaa', 30_000);
    if (!held.acquired) throw new Error('expected the lease');
    const expiresAt = clock.now() + 30_000;
    state.failing = /^leases\//;

    clock.advance(30_000 - LEASE_CLOCK_SKEW_MS - 1);
    await until(() => state.refused.length > 0, 'a failed renewal');
    expect(held.lease.lost.aborted).toBe(false);
    clock.advance(1);
    expect(held.lease.lost.aborted).toBe(true);
    expect(held.lease.lost.reason).toMatchObject({
      code: 'LEASE_LOST',
      errorType: 'LeaseLost',
      reason: 'lease_lost',
    });
    expect((held.lease.lost.reason as Error).message).toBe(
      `lease ${name} lost: it could not be renewed before it expired at 2026-11-22T14:00:30.000Z; stopped so as not to run beside its next holder`,
    );
    expect(entries.some((e) => e.severity === 'ERROR' && /was lost/.test(e.message))).toBe(true);

    // Another instance, even one whose clock is up to the margin ahead, still sees it held.
    const other = await manager(new FakeClock(expiresAt + LEASE_CLOCK_SKEW_MS - 1));
    expect(await other.tryAcquire(name, 'exec-2/b/2', 30_000)).toMatchObject({ acquired: false });
    const later = await manager(new FakeClock(expiresAt + LEASE_CLOCK_SKEW_MS));
    expect(await later.tryAcquire(name, 'exec-2/b/2', 30_000)).toMatchObject({ acquired: true });
  });

  it('watched on behalf of its holder: lost once it is not renewed in time, or held by someone else', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const store = await openStore(storage.uri(`state-${kind}`));
    const leases = new LeaseManager(store, clock, captureLogger().logger, () => 0.5);
    const name = leaseName();
    // A record written by a holder that then stops renewing it (a stuck scheduler).
    await store.put(
      `leases/${name}.json`,
      JSON.stringify({
        name,
        holder: 'exec-1/xmp/aaaa',
        executionId: 'exec-1',
        acquiredAt: new Date(clock.now()).toISOString(),
        expiresAt: clock.now() + 30_000,
      }),
    );
    const record = (await leases.current(name))!;
    const watch = leases.watch(record, 30_000);
    clock.advance(10_000);
    clock.advance(10_000);
    await new Promise((r) => setImmediate(r));
    expect(watch.lost.aborted).toBe(false);
    clock.advance(30_000 - 20_000 - LEASE_CLOCK_SKEW_MS);
    expect(watch.lost.reason).toMatchObject({ code: 'LEASE_LOST' });
    expect((watch.lost.reason as Error).message).toMatch(
      /its holder did not renew it before 2026-11-22T14:00:30\.000Z/,
    );

    // Renewed by its holder, but taken over by someone else: lost at the next look.
    const fresh = await leases.tryAcquire(leaseName(), 'exec-3/xmp/cccc', 30_000);
    if (!fresh.acquired) throw new Error('expected the lease');
    const watched = leases.watch((await leases.current(fresh.lease.name))!, 30_000);
    await store.put(
      `leases/${fresh.lease.name}.json`,
      JSON.stringify({
        name: fresh.lease.name,
        holder: 'exec-4/x/dddd',
        executionId: 'exec-4',
        acquiredAt: '',
        expiresAt: clock.now() + 30_000,
      }),
    );
    clock.advance(10_000);
    await until(() => watched.lost.aborted, 'the watcher saw the new holder');
    expect((watched.lost.reason as Error).message).toMatch(/it is now held by exec-4\/x\/dddd/);
    watch.stop();
    watched.stop();
  });
});
