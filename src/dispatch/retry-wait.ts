import type { RetryPolicy } from '../config/types';
import { backoffDelayMs } from './retry';

export type WaitDecision =
  { wait: true; delayMs: number } | { wait: false; why: string; extra: Record<string, unknown> };

/**
 * How long to wait before the next attempt, or why not to wait at all. The wait is the server's
 * Retry-After, else full-jitter backoff; it never exceeds `retry.max_backoff_seconds` nor ends past the
 * execution deadline (`msLeft`). A server asking for longer ends the collector now, with its own answer
 * and the wait it asked for, instead of holding it until the deadline reports a Timeout.
 */
export function nextWait(
  failedAttempt: number,
  policy: RetryPolicy,
  retryAfterMs: number | null,
  msLeft: number,
  random: () => number,
): WaitDecision {
  const left = `${seconds(Math.max(0, msLeft))} s left before the execution deadline`;
  if (retryAfterMs !== null) {
    const asked = `asked to retry after ${seconds(retryAfterMs)} s (Retry-After)`;
    const extra = { retry_after_seconds: retryAfterMs / 1000 };
    if (retryAfterMs > policy.maxBackoffSeconds * 1000) {
      return {
        wait: false,
        why: `${asked}, longer than retry.max_backoff_seconds (${policy.maxBackoffSeconds} s); not retried`,
        extra,
      };
    }
    if (retryAfterMs >= msLeft) return { wait: false, why: `${asked}, with ${left}; not retried`, extra };
    return { wait: true, delayMs: retryAfterMs };
  }
  const delayMs = backoffDelayMs(failedAttempt, policy, random);
  if (delayMs >= msLeft) {
    return { wait: false, why: `no time for another attempt (${left})`, extra: {} };
  }
  return { wait: true, delayMs };
}

function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}
