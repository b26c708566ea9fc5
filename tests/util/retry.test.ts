import { backoffDelayMs, isRetryableStatus, networkErrorCode, parseRetryAfter } from '../../src/util/retry';

describe('retry policy', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [503, true],
    [599, true],
    [400, false],
    [401, false],
    [404, false],
    [409, false],
    [200, false],
  ])('status %i retryable: %s', (status, expected) => {
    expect(isRetryableStatus(status)).toBe(expected);
  });

  const now = Date.parse('2026-11-22T14:00:00Z');
  it.each([
    ['7', 7000],
    ['0', 0],
    [' 12 ', 12_000],
    ['Sun, 22 Nov 2026 14:00:30 GMT', 30_000],
    ['Sun, 22 Nov 2026 13:59:00 GMT', 0],
    ['soon', null],
    ['', null],
    [null, null],
  ])('Retry-After %p → %p ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it('backs off exponentially with full jitter, capped', () => {
    const policy = { attempts: 5, minBackoffSeconds: 1, maxBackoffSeconds: 30 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(n, policy, () => 0.999999))).toEqual([
      999, 1999, 3999, 7999, 15999, 29999,
    ]);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
  });

  it('recognises network failures inside the errors fetch throws', () => {
    const reset = new TypeError('fetch failed', {
      cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    });
    expect(networkErrorCode(reset)).toBe('ECONNRESET');
    expect(networkErrorCode(new TypeError('Invalid URL'))).toBeNull();
    expect(networkErrorCode(new Error('boom'))).toBeNull();
  });
});
