import type { Clock } from '../../src/util/clock';
import { untilAborted } from '../../src/util/abort';

/** The Open API counts requests per minute. */
export const WINDOW_MS = 60_000;

/** Gives back a request's slot when its answer (or failure) has arrived. */
export type Release = () => void;

/**
 * At most `max` requests in any `windowMs`, granted in arrival order on the injected clock. A request
 * counts from when it is granted until `windowMs` after its answer arrived: the server saw it somewhere
 * in between, so however long it travelled, no window of the server's can hold more than `max`. (Counting
 * from the grant alone lets a slow request land in the server's next window.) A sliding window is also
 * stricter than per-calendar-minute counting, so it satisfies either reading of "10 QPM".
 */
export class RateLimiter {
  private inFlight = 0;
  /** When the answers of recent requests arrived, oldest first. */
  private answered: number[] = [];
  private holdUntil = Number.NEGATIVE_INFINITY;
  private line: Promise<unknown> = Promise.resolve();
  private wake: (() => void) | null = null;

  constructor(
    private readonly clock: Clock,
    private max: number,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** The smaller budget wins when jobs of one account are configured differently. */
  lowerTo(max: number): void {
    this.max = Math.min(this.max, max);
  }

  /** Resolves when a request may be sent; call the release once it is answered. Rejects when `signal` aborts. */
  acquire(signal: AbortSignal): Promise<Release> {
    const turn = this.line.then(() => this.waitForSlot(signal));
    this.line = turn.catch(() => undefined);
    return untilAborted(turn, signal);
  }

  /** No request before `ms` from now (the upstream said "Request Too Frequent"). */
  holdOff(ms: number): void {
    this.holdUntil = Math.max(this.holdUntil, this.clock.now() + ms);
  }

  private async waitForSlot(signal: AbortSignal): Promise<Release> {
    for (;;) {
      signal.throwIfAborted();
      const now = this.clock.now();
      this.answered = this.answered.filter((t) => t > now - this.windowMs);
      const excess = this.inFlight + this.answered.length - this.max + 1;
      if (excess <= 0 && this.holdUntil <= now) {
        this.inFlight++;
        let released = false;
        return () => {
          if (released) return;
          released = true;
          this.inFlight--;
          this.answered.push(this.clock.now());
          this.wake?.();
        };
      }
      if (excess > this.answered.length) {
        // Every counted request is still in flight: wait for an answer, then for its window.
        await new Promise<void>((resolve, reject) => {
          const wake = () => {
            if (this.wake === wake) this.wake = null;
            signal.removeEventListener('abort', onAbort);
            resolve();
          };
          const onAbort = () => {
            if (this.wake === wake) this.wake = null;
            reject(signal.reason);
          };
          signal.addEventListener('abort', onAbort, { once: true });
          this.wake = wake;
        });
        continue;
      }
      const slotAt = excess > 0 ? this.answered[excess - 1]! + this.windowMs : now;
      await this.clock.sleep(Math.max(slotAt, this.holdUntil) - now, signal);
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
