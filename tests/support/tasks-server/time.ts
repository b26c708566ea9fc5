/**
 * What the server needs of a clock. src/util/clock's `systemClock` and tests/support/fake-clock's
 * `FakeClock` fit (either with `schedule`, or the older `timeout`). Deadlines use `schedule`/`timeout`, not
 * `sleep`, so a FakeClock that advances itself on sleeps does not fire them early.
 */
export interface TasksClock {
  now(): number;
  /** Resolves after `ms` of this clock's time; rejects if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` after `ms` of this clock's time; the returned function cancels it. */
  schedule?(ms: number, fn: () => void): () => void;
  /** A signal that aborts after `ms` of this clock's time. */
  timeout?(ms: number, reason: unknown): { signal: AbortSignal; clear(): void };
}

/** Real time; timers are cancelled by `close()` (through their signals), so none outlives the server. */
export const realClock: TasksClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  schedule: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export function deadlineSignal(clock: TasksClock, ms: number): { signal: AbortSignal; clear(): void } {
  if (clock.schedule) {
    const controller = new AbortController();
    const cancel = clock.schedule(ms, () => controller.abort(new Error('dispatch deadline')));
    return { signal: controller.signal, clear: cancel };
  }
  if (clock.timeout) return clock.timeout(ms, new Error('dispatch deadline'));
  throw new Error('tasks server: the clock needs schedule() or timeout() for dispatch deadlines');
}
