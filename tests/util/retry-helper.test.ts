import { decideRetry, policyFromConfig, retry, retryResult, type RetryPolicy } from '../../src/util/retry';
import { FakeClock } from '../support/fake-clock';
import { seededRandom } from '../support/seeded-random';

const policy: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 300 };
const top = () => 0.999999;

class Flaky extends Error {
  constructor(readonly retryAfterMs: number | null = null) {
    super('flaky');
  }
}

describe('the retry helper', () => {
  it('waits full-jitter backoffs, doubling and capped, and gives up with the last failure', async () => {
    const clock = new FakeClock(0);
    const seen: number[] = [];
    const promise = retry(
      async (n) => {
        seen.push(n);
        throw new Flaky();
      },
      { policy, clock, random: top, retryable: (e) => e instanceof Flaky },
    );
    await expect(promise).rejects.toBeInstanceOf(Flaky);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(clock.sleeps).toEqual([99, 199, 299]);
  });

  it('waits the ceiling itself without jitter', () => {
    const none: RetryPolicy = { ...policy, jitter: 'none' };
    expect([1, 2, 3].map((n) => decideRetry(n, none))).toEqual([
      { retry: true, delayMs: 100 },
      { retry: true, delayMs: 200 },
      { retry: true, delayMs: 300 },
    ]);
    expect(decideRetry(4, none)).toEqual({ retry: false, stop: { kind: 'attempts' } });
  });

  it('honours a Retry-After up to its cap, and stops on a longer one with the answer', async () => {
    const clock = new FakeClock(0);
    const capped: RetryPolicy = { ...policy, maxRetryAfterMs: 5_000 };
    let calls = 0;
    const result = await retryResult<string, Flaky>(
      async () => {
        calls++;
        return calls === 1
          ? { ok: false, failure: new Flaky(2_000), retryable: true, retryAfterMs: 2_000 }
          : { ok: false, failure: new Flaky(9_000), retryable: true, retryAfterMs: 9_000 };
      },
      { policy: capped, clock },
    );
    expect(clock.sleeps).toEqual([2_000]);
    expect(result).toMatchObject({
      ok: false,
      attempts: 2,
      stop: { kind: 'retry-after-over-cap', retryAfterMs: 9_000, capMs: 5_000 },
    });
  });

  it('never waits past the deadline, nor past the time budget', () => {
    expect(decideRetry(1, policy, { retryAfterMs: 1_000, msLeft: 1_000 })).toEqual({
      retry: false,
      stop: { kind: 'retry-after-past-deadline', retryAfterMs: 1_000, msLeft: 1_000 },
    });
    expect(decideRetry(1, policy, { msLeft: 50, random: top })).toEqual({
      retry: false,
      stop: { kind: 'no-time', msLeft: 50 },
    });
    const budget: RetryPolicy = { ...policy, attempts: Infinity, budgetMs: 1_000 };
    expect(decideRetry(9, budget, { elapsedMs: 800, random: top })).toEqual({
      retry: false,
      stop: { kind: 'budget', elapsedMs: 800 },
    });
    expect(decideRetry(9, budget, { elapsedMs: 700, random: top })).toEqual({ retry: true, delayMs: 299 });
  });

  it('stops at once on a failure that is not retryable, and on a bug', async () => {
    const clock = new FakeClock(0);
    let calls = 0;
    const bug = retry(
      async () => {
        calls++;
        throw new TypeError('x is not a function');
      },
      { policy, clock, retryable: () => false },
    );
    await expect(bug).rejects.toThrow('x is not a function');
    expect(calls).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('returns the first success and the attempts it took', async () => {
    const clock = new FakeClock(0);
    const random = seededRandom(7);
    const result = await retryResult<string, string>(
      async (n) => (n < 3 ? { ok: false, failure: `no ${n}`, retryable: true } : { ok: true, value: 'yes' }),
      { policy, clock, random },
    );
    expect(result).toEqual({ ok: true, value: 'yes', attempts: 3 });
    expect(clock.sleeps).toHaveLength(2);
  });

  it('ends a wait when the signal aborts, with the signal reason', async () => {
    const clock = new FakeClock(0, false);
    const controller = new AbortController();
    const reason = new Error('deadline');
    const promise = retry(
      async () => {
        throw new Flaky();
      },
      { policy, clock, signal: controller.signal, random: top, retryable: () => true },
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.sleeps).toEqual([99]);
    controller.abort(reason);
    await expect(promise).rejects.toBe(reason);
  });

  it('tells each retry before its wait', async () => {
    const clock = new FakeClock(0);
    const events: unknown[] = [];
    await retryResult<never, string>(async (n) => ({ ok: false, failure: `f${n}`, retryable: true }), {
      policy: policyFromConfig(
        { attempts: 3, minBackoffSeconds: 1, maxBackoffSeconds: 30 },
        { jitter: 'none' },
      ),
      clock,
      onRetry: (event) => events.push(event),
    });
    expect(events).toEqual([
      { failure: 'f1', attempt: 2, delayMs: 1_000 },
      { failure: 'f2', attempt: 3, delayMs: 2_000 },
    ]);
  });
});
