import { DEFAULT_TOKEN_SETTINGS } from '../../src/token/broker';
import { pollDelayMs } from '../../src/token/poll';

const settings = { ...DEFAULT_TOKEN_SETTINGS, pollInitialMs: 20, pollFactor: 1.3, pollMaxMs: 1_000 };
const base = { nowMs: 10_000, leaseAcquiredMs: 10_000, lastLoginMs: null, random: () => 1 };

describe('how long a waiter sleeps between looks at the token', () => {
  it('grows by the poll factor from the initial poll, up to the cap', () => {
    const delays = [0, 1, 2, 3, 20, 40].map((poll) => pollDelayMs({ ...base, poll }, settings));
    expect(delays).toEqual([20, 26, 34, 44, 1_000, 1_000]);
  });

  it('jitters each poll by at most a fifth, down', () => {
    expect(pollDelayMs({ ...base, poll: 0, random: () => 0 }, settings)).toBe(16);
  });

  it('with the last login’s duration known, first sleeps until just before this one should finish', () => {
    // The lease was taken 100 ms ago; the last login took 500 ms: look again at 90 % of it.
    expect(pollDelayMs({ ...base, poll: 0, nowMs: 10_100, lastLoginMs: 500 }, settings)).toBe(350);
    // Already past that point: poll as usual.
    expect(pollDelayMs({ ...base, poll: 0, nowMs: 10_460, lastLoginMs: 500 }, settings)).toBe(20);
    // Only the first sleep uses it.
    expect(pollDelayMs({ ...base, poll: 1, nowMs: 10_100, lastLoginMs: 500 }, settings)).toBe(26);
  });
});
