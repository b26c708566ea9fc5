import type { Clock } from '../../src/util/clock';

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

/**
 * A clock whose time moves only when told. `sleep` (backoff waits) advances time by itself by default,
 * so retry tests finish at once with exact durations; timeouts fire when time passes them, through a
 * sleep or through `advance()`, which a test calls after it has seen, on a server, that a request is in
 * flight.
 */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];
  /** Every sleep asked for, in ms, in order. */
  readonly sleeps: number[] = [];

  constructor(
    start: number | string = '2026-11-22T14:00:00Z',
    private readonly autoAdvanceSleeps = true,
  ) {
    this.time = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        this.cancel(timer);
        reject(signal?.reason);
      };
      const timer = this.addTimer(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.autoAdvanceSleeps) setImmediate(() => this.advanceTo(timer.at));
    });
  }

  schedule(ms: number, fn: () => void): () => void {
    const timer = this.addTimer(ms, fn);
    return () => this.cancel(timer);
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    this.advanceTo(this.time + ms);
  }

  pendingTimers(): number {
    return this.timers.length;
  }

  /** When the earliest pending timer is due (undefined with none): shows a timer re-armed after the clock moved. */
  nextDueAt(): number | undefined {
    return this.timers.reduce<number | undefined>(
      (min, t) => (min === undefined || t.at < min ? t.at : min),
      undefined,
    );
  }

  private advanceTo(target: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.time = Math.max(this.time, next.at);
      next.fire();
    }
    this.time = Math.max(this.time, target);
  }

  private addTimer(ms: number, fire: () => void): Timer {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fire };
    this.timers.push(timer);
    return timer;
  }

  private cancel(timer: Timer): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }
}
