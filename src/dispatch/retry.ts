import type { RetryPolicy } from '../config/types';
import { networkCause } from '../util/network-errors';

/**
 * The retry policy, as pure functions: which failures are worth another attempt, and how long to wait.
 * Shared by the HTTP dispatcher and the collectors' upstream client.
 */

/** 408, 429 and 5xx are worth retrying; other 4xx will fail the same way again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * The code of a network failure worth another attempt (a reset, a refusal, a timeout), null for
 * anything else: a host that does not resolve or a refused certificate fails the same way again.
 */
export function networkErrorCode(error: unknown): string | null {
  const cause = networkCause(error);
  return cause?.retryable ? cause.code : null;
}

/**
 * The wait a `Retry-After` header asks for, in ms: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): a
 * uniform wait in [0, min(max, min·2^(n-1))) after the n-th failed attempt, so retries of many callers
 * spread out instead of arriving together.
 */
export function backoffDelayMs(
  failedAttempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling =
    Math.min(policy.maxBackoffSeconds, policy.minBackoffSeconds * 2 ** (failedAttempt - 1)) * 1000;
  return Math.floor(random() * ceiling);
}
