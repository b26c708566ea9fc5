import type { Clock } from '../../src/util/clock';

/** The Open API counts requests per minute. */
export const WINDOW_MS = 60_000;

/**
 * At most `max` requests in any `windowMs`, granted in arrival order on the injected clock. A sliding
 * window is stricter than per-calendar-minute counting, so it satisfies either reading of "10 QPM".
 */
export class RateLimiter {
  private grants: number[] = [];
  private holdUntil = Number.NEGATIVE_INFINITY;
  private line: Promise<void> = Promise.resolve();

  constructor(
    private readonly clock: Clock,
    private max: number,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** The smaller budget wins when jobs of one account are configured differently. */
  lowerTo(max: number): void {
    this.max = Math.min(this.max, max);
  }

  /** Resolves when a request may be sent (and counts it); rejects as soon as `signal` aborts. */
  acquire(signal: AbortSignal): Promise<void> {
    const turn = this.line.then(() => this.waitForSlot(signal));
    this.line = turn.catch(() => undefined);
    return untilAborted(turn, signal);
  }

  /** No request before `ms` from now (the upstream said "Request Too Frequent"). */
  holdOff(ms: number): void {
    this.holdUntil = Math.max(this.holdUntil, this.clock.now() + ms);
  }

  private async waitForSlot(signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const now = this.clock.now();
      this.grants = this.grants.filter((t) => t > now - this.windowMs);
      let next = this.holdUntil;
      if (this.grants.length >= this.max) {
        next = Math.max(next, this.grants[this.grants.length - this.max]! + this.windowMs);
      }
      if (next <= now) {
        this.grants.push(now);
        return;
      }
      await this.clock.sleep(next - now, signal);
    }
  }
}

/**
 * One limiter per (clock, account) in this process: every run of an account draws on the same budget.
 * Keyed by clock too, so tests with their own fake clocks never share one.
 */
const limiters = new WeakMap<Clock, Map<string, RateLimiter>>();

export function accountLimiter(clock: Clock, account: string, perMinute: number): RateLimiter {
  let byAccount = limiters.get(clock);
  if (!byAccount) limiters.set(clock, (byAccount = new Map()));
  let limiter = byAccount.get(account);
  if (!limiter) byAccount.set(account, (limiter = new RateLimiter(clock, perMinute)));
  else limiter.lowerTo(perMinute);
  return limiter;
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
