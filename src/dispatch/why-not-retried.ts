import type { RetryStop } from '../util/retry';

/**
 * Why a collector's retryable failure was not tried again, for its outcome's message: a server asking
 * (Retry-After) for longer than `retry.max_backoff_seconds`, or for longer than the execution has left,
 * ends the collector now with its own answer and the wait it asked for, instead of holding it until the
 * deadline reports a Timeout. Null when the attempts simply ran out (the failure speaks for itself).
 */
export function whyNotRetried(
  stop: RetryStop | { kind: 'final' },
  maxBackoffSeconds: number,
): { text: string; extra: Record<string, unknown> } | null {
  switch (stop.kind) {
    case 'retry-after-over-cap':
      return {
        text: `${asked(stop.retryAfterMs)}, longer than retry.max_backoff_seconds (${maxBackoffSeconds} s); not retried`,
        extra: { retry_after_seconds: stop.retryAfterMs / 1000 },
      };
    case 'retry-after-past-deadline':
      return {
        text: `${asked(stop.retryAfterMs)}, with ${left(stop.msLeft)}; not retried`,
        extra: { retry_after_seconds: stop.retryAfterMs / 1000 },
      };
    case 'no-time':
      return { text: `no time for another attempt (${left(stop.msLeft)})`, extra: {} };
    default:
      return null;
  }
}

function asked(retryAfterMs: number): string {
  return `asked to retry after ${seconds(retryAfterMs)} s (Retry-After)`;
}

function left(msLeft: number): string {
  return `${seconds(Math.max(0, msLeft))} s left before the execution deadline`;
}

function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}
