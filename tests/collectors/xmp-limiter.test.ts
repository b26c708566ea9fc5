import { accountLimiter, RateLimiter } from '../../collectors/xmp/limiter';
import { FakeClock } from '../support/fake-clock';

describe('the XMP request limiter', () => {
  it('grants 10 at once, then the 11th a minute after the first answer', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(clock, 10);
    const signal = new AbortController().signal;
    const t0 = clock.now();
    for (let i = 0; i < 10; i++) (await limiter.acquire(signal))();
    expect(clock.now()).toBe(t0);
    (await limiter.acquire(signal))();
    expect(clock.now() - t0).toBe(60_000);
  });

  it('counts a slow request from its answer, so it cannot land in the server’s next window', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const limiter = new RateLimiter(clock, 2);
    const signal = new AbortController().signal;
    const flush = () => new Promise((r) => setImmediate(r));
    const t0 = clock.now();
    const slow = await limiter.acquire(signal);
    (await limiter.acquire(signal))();
    clock.advance(30_000);
    slow(); // answered 30 s after it was sent
    const granted: number[] = [];
    const third = limiter.acquire(signal).then((release) => {
      granted.push(clock.now() - t0);
      release();
    });
    const fourth = limiter.acquire(signal).then((release) => {
      granted.push(clock.now() - t0);
      release();
    });
    clock.advance(30_000);
    await third;
    clock.advance(29_999);
    await flush();
    expect(granted).toEqual([60_000]);
    clock.advance(1);
    await fourth;
    // Counted from its grant, the slow one would have freed its slot at 60 s.
    expect(granted).toEqual([60_000, 90_000]);
  });

  it('holds off after "Request Too Frequent", and lets a cancelled waiter leave the line', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(clock, 10);
    const t0 = clock.now();
    limiter.holdOff(60_000);
    const quitter = new AbortController();
    const cancelled = limiter.acquire(quitter.signal);
    quitter.abort(new Error('deadline'));
    await expect(cancelled).rejects.toThrow('deadline');
    (await limiter.acquire(new AbortController().signal))();
    expect(clock.now() - t0).toBe(60_000);
  });

  it('is one budget per account and clock, the smallest configured winning', () => {
    const clock = new FakeClock();
    const a = accountLimiter(clock, 'main', 10);
    expect(accountLimiter(clock, 'main', 20)).toBe(a);
    expect(accountLimiter(clock, 'other', 10)).not.toBe(a);
    expect(accountLimiter(new FakeClock(), 'main', 10)).not.toBe(a);
  });
});
