import { LeaseManager } from '../../src/lease/lease';
import { openStore } from '../../src/store/open';
import { readJson, type ObjectStore } from '../../src/store/types';
import { createTokenBroker, type TokenBrokerSettings } from '../../src/token/broker';
import { loginLeaseName, tokenKey, type TokenRecord } from '../../src/token/record';
import type { LoginFn } from '../../src/token/types';
import { PermanentError } from '../../src/runtime/errors';
import type { LogEntry } from '../../src/util/log';
import { FakeClock } from '../support/fake-clock';
import { gate } from '../support/upstreams/faults';
import { captureLogger } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { until } from '../support/wait';

const HOUR = 3_600_000;

/** A login that counts its calls and hands out t1, t2, ... valid for an hour of `clock`. */
function countingLogin(clock: FakeClock, lifetimeMs: number | null = HOUR) {
  const login = Object.assign(
    (async () => {
      login.calls++;
      await login.gate;
      return {
        token: `secret-token-${login.calls}-abcdef`,
        expiresAt: lifetimeMs === null ? null : clock.now() + lifetimeMs,
      };
    }) as LoginFn,
    { calls: 0, gate: Promise.resolve() as Promise<void> },
  );
  return login;
}

describe.each(STORE_KINDS)('token broker on the %s store', (kind) => {
  const storage = storeFixture(kind);
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());

  let n = 0;
  /** One broker per simulated process: its own store client, lease manager and logger. */
  async function proc(clock: FakeClock, settings: Partial<TokenBrokerSettings> = {}) {
    const store = await openStore(storage.uri(`state-${kind}`));
    const { logger, entries } = captureLogger();
    const broker = createTokenBroker({
      store,
      leases: new LeaseManager(store, clock, logger, () => 0.5),
      clock,
      logger,
      settings,
      random: () => 0.5,
    });
    return { broker, store, logs: entries };
  }
  const account = () => `acct-${kind}-${++n}`;
  const record = async (store: ObjectStore, acct: string) =>
    (await readJson<TokenRecord>(store, tokenKey(acct)))?.value ?? null;

  it('logs in once, stores the token object without the password, and reuses it', async () => {
    const clock = new FakeClock();
    const { broker, store, logs } = await proc(clock);
    const acct = account();
    const login = countingLogin(clock);

    expect(await broker.getToken(acct, login)).toBe('secret-token-1-abcdef');
    clock.advance(10 * 60_000);
    expect(await broker.getToken(acct, login)).toBe('secret-token-1-abcdef');
    expect(login.calls).toBe(1);
    const stored = await record(store, acct);
    expect(stored).toMatchObject({
      account: acct,
      token: 'secret-token-1-abcdef',
      obtained_at: '2026-11-22T14:00:00.000Z',
      expires_at: '2026-11-22T15:00:00.000Z',
      logins: 1,
      invalidated_at: null,
    });
    expect(Object.keys(stored!)).not.toContain('password');
    expect(JSON.stringify(logs)).not.toContain('secret-token-1-abcdef');
    expect(logs.some((e) => e.message === `logged in to account ${acct}`)).toBe(true);
  });

  it('shares one in-flight login among concurrent callers of one process', async () => {
    const clock = new FakeClock();
    const { broker } = await proc(clock);
    const acct = account();
    const login = countingLogin(clock);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => broker.getToken(acct, login)));
    expect(new Set(tokens)).toEqual(new Set(['secret-token-1-abcdef']));
    expect(login.calls).toBe(1);
  });

  it('lets exactly one of many processes log in while the others wait on its lease', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const acct = account();
    const login = countingLogin(clock);
    const held = gate();
    login.gate = held.promise;
    const procs = await Promise.all(Array.from({ length: 12 }, () => proc(clock)));
    const waiting = (logs: LogEntry[]) => logs.some((e) => /^waiting for the login/.test(e.message));

    const results = procs.map((p) => p.broker.getToken(acct, login));
    // Every process is either logging in or waiting on the login lease before the login answers.
    await until(() => login.calls === 1 && procs.filter((p) => waiting(p.logs)).length === 11);
    held.open();
    await until(async () => (await record(procs[0]!.store, acct))?.token != null);
    await until(async () => (await procs[0]!.store.get(`leases/${loginLeaseName(acct)}.json`)) === null);
    // The waiters are asleep on the clock; their next look finds the token.
    clock.advance(1_000);
    expect(new Set(await Promise.all(results))).toEqual(new Set(['secret-token-1-abcdef']));
    expect(login.calls).toBe(1);
  });

  it('treats a token as expired a margin before its expiry, and logs in again then', async () => {
    const clock = new FakeClock();
    const { broker } = await proc(clock, { expiryMarginMs: 5 * 60_000 });
    const acct = account();
    const login = countingLogin(clock);
    await broker.getToken(acct, login);
    clock.advance(HOUR - 5 * 60_000 - 1);
    expect(await broker.getToken(acct, login)).toBe('secret-token-1-abcdef');
    clock.advance(1);
    expect(await broker.getToken(acct, login)).toBe('secret-token-2-abcdef');
    expect(login.calls).toBe(2);
  });

  it('never takes more than half of a short lifetime as the margin', async () => {
    const clock = new FakeClock();
    const { broker } = await proc(clock, { expiryMarginMs: 5 * 60_000 });
    const acct = account();
    const login = countingLogin(clock, 2 * 60_000);
    await broker.getToken(acct, login);
    clock.advance(59_999);
    expect(await broker.getToken(acct, login)).toBe('secret-token-1-abcdef');
    clock.advance(1);
    expect(await broker.getToken(acct, login)).toBe('secret-token-2-abcdef');
  });

  it('assumes the default lifetime when the login does not say', async () => {
    const clock = new FakeClock();
    const { broker, store } = await proc(clock, { defaultLifetimeMs: 2 * HOUR });
    const acct = account();
    await broker.getToken(acct, countingLogin(clock, null));
    expect((await record(store, acct))?.expires_at).toBe('2026-11-22T16:00:00.000Z');
  });

  it('invalidates by compare-and-swap: a stale 401 never clears a fresh token', async () => {
    const clock = new FakeClock();
    const a = await proc(clock);
    const b = await proc(clock);
    const acct = account();
    const login = countingLogin(clock);
    const first = await a.broker.getToken(acct, login);

    // Process A's request fails with the first token: it clears it and logs in again.
    expect(await a.broker.invalidate(acct, first)).toBe(true);
    expect((await record(a.store, acct))?.token).toBeNull();
    const fresh = await a.broker.getToken(acct, login);
    expect(fresh).toBe('secret-token-2-abcdef');
    // Process B's request with the first token fails later: its invalidate must not touch the fresh one.
    expect(await b.broker.invalidate(acct, first)).toBe(false);
    expect(await b.broker.getToken(acct, login)).toBe(fresh);
    expect((await record(b.store, acct))?.token).toBe(fresh);
    expect(login.calls).toBe(2);
  });

  it('turns simultaneous 401s of many processes into one re-login', async () => {
    const clock = new FakeClock();
    const procs = await Promise.all(Array.from({ length: 6 }, () => proc(clock)));
    const acct = account();
    const login = countingLogin(clock);
    const first = await procs[0]!.broker.getToken(acct, login);
    const cleared = await Promise.all(procs.map((p) => p.broker.invalidate(acct, first)));
    expect(cleared.filter(Boolean)).toHaveLength(1);
    const tokens = await Promise.all(procs.map((p) => p.broker.getToken(acct, login)));
    expect(new Set(tokens)).toEqual(new Set(['secret-token-2-abcdef']));
    expect(login.calls).toBe(2);
  });

  it('fails the jobs waiting on a login that failed with its error, without trying it again', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const acct = account();
    const held = gate();
    let calls = 0;
    const badLogin: LoginFn = async () => {
      calls++;
      await held.promise;
      throw new PermanentError('XMP login refused: wrong password (code 40001)');
    };
    const [leader, waiter] = [await proc(clock), await proc(clock)];
    const first = leader.broker.getToken(acct, badLogin);
    first.catch(() => undefined);
    // The second job starts once the first is logging in, so it is the one that waits.
    await until(() => calls === 1);
    const second = waiter.broker.getToken(acct, badLogin);
    second.catch(() => undefined);
    await until(() => waiter.logs.some((e) => /^waiting for the login/.test(e.message)));
    held.open();
    await expect(first).rejects.toThrow('wrong password');
    clock.advance(1_000);
    await expect(second).rejects.toThrow(/failed in another job .*wrong password/);
    await expect(second).rejects.toBeInstanceOf(PermanentError);
    expect(calls).toBe(1);
    expect((await record(leader.store, acct))?.last_login_error).toMatchObject({ retryable: false });
    // A later job (one that did not wait on that login) tries again.
    const retried = await leader.broker.getToken(acct, countingLogin(clock));
    expect(retried).toBe('secret-token-1-abcdef');
  });

  it('keeps a shared login going while another caller still waits, and stops it when all give up', async () => {
    const clock = new FakeClock();
    const { broker, store } = await proc(clock);
    const acct = account();
    const held = gate();
    let loginSignal: AbortSignal | null = null;
    const login: LoginFn = async (signal) => {
      loginSignal = signal ?? null;
      await held.promise;
      signal?.throwIfAborted();
      return { token: 'shared-token-123456', expiresAt: clock.now() + HOUR };
    };
    const quitter = new AbortController();
    const patient = broker.getToken(acct, login);
    const impatient = broker.getToken(acct, login, quitter.signal);
    await until(() => loginSignal !== null);
    quitter.abort(new Error('job deadline'));
    await expect(impatient).rejects.toThrow('job deadline');
    expect(loginSignal!.aborted).toBe(false);
    held.open();
    expect(await patient).toBe('shared-token-123456');

    // Now with a single caller that gives up: the login is aborted and the lease released.
    const acct2 = account();
    let aborted = false;
    let started = false;
    const slow: LoginFn = (signal) =>
      new Promise((_, reject) => {
        started = true;
        signal?.addEventListener('abort', () => {
          aborted = true;
          reject(signal.reason);
        });
      });
    const alone = new AbortController();
    const lone = broker.getToken(acct2, slow, alone.signal);
    await until(() => started);
    alone.abort(new Error('cancelled'));
    await expect(lone).rejects.toThrow('cancelled');
    expect(aborted).toBe(true);
    await until(async () => (await store.get(`leases/${loginLeaseName(acct2)}.json`)) === null);
    expect((await record(store, acct2))?.token ?? null).toBeNull();
  });

  it('abandons a login that does not answer within the login timeout, and releases the lease', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const { broker, store } = await proc(clock, { loginTimeoutMs: 20_000 });
    const acct = account();
    let started = false;
    const hanging: LoginFn = (signal) =>
      new Promise((_, reject) => {
        started = true;
        signal?.addEventListener('abort', () => reject(signal.reason));
      });
    const result = broker.getToken(acct, hanging);
    await until(() => started);
    clock.advance(20_000);
    await expect(result).rejects.toThrow('did not answer within 20 s');
    await until(async () => (await store.get(`leases/${loginLeaseName(acct)}.json`)) === null);
  });

  it('sleeps until the previous login should be nearly done before its first look', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const { broker, store } = await proc(clock);
    const acct = account();
    // The first login takes 5 s of the clock; its duration is remembered in the token object.
    let loggingIn = false;
    const slowLogin: LoginFn = async () => {
      loggingIn = true;
      await clock.sleep(5_000);
      return { token: 'slow-login-token-1', expiresAt: clock.now() + HOUR };
    };
    const first = broker.getToken(acct, slowLogin);
    await until(() => loggingIn);
    clock.advance(5_000);
    await first;
    expect((await record(store, acct))?.login_ms).toBe(5_000);
    await broker.invalidate(acct, 'slow-login-token-1');

    // Another process has just started the next login: the waiter's first sleep lasts 90 % of 5 s.
    const other = new LeaseManager(store, clock, captureLogger().logger);
    const held = await other.tryAcquire(loginLeaseName(acct), 'token-broker/pid-2/other', 60_000);
    const before = clock.sleeps.length;
    let done = false;
    const waiting = broker.getToken(acct, countingLogin(clock)).finally(() => (done = true));
    await until(() => clock.sleeps.length > before);
    expect(clock.sleeps[before]).toBe(4_500);
    // The other process gives up without a token: the waiter notices at a lease look and logs in.
    if (held.acquired) await held.lease.release();
    // Bounded, so a regression fails the test instead of spinning past its timeout.
    for (let step = 0; !done && step < 2_000; step++) {
      clock.advance(100);
      await new Promise((r) => setImmediate(r));
    }
    expect(await waiting).toBe('secret-token-1-abcdef');
  });

  it('gives up with LEASE_BUSY after its wait limit when the login lease stays held', async () => {
    const clock = new FakeClock();
    const { broker, store } = await proc(clock, { maxWaitMs: 45_000 });
    const acct = account();
    const other = new LeaseManager(store, clock, captureLogger().logger);
    await other.tryAcquire(loginLeaseName(acct), 'token-broker/pid-1/stuck', 10 * 60_000);
    const t0 = clock.now();
    const login = countingLogin(clock);
    await expect(broker.getToken(acct, login)).rejects.toMatchObject({
      code: 'LEASE_BUSY',
      message: expect.stringContaining('held by token-broker/pid-1/stuck'),
    });
    expect(clock.now() - t0).toBe(45_000);
    expect(login.calls).toBe(0);
  });

  it('refuses an account name that is not a safe object key', async () => {
    const { broker } = await proc(new FakeClock());
    await expect(broker.getToken('../etc', countingLogin(new FakeClock()))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    await expect(broker.invalidate('a/b', 'x')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
