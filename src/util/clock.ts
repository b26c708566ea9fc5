/**
 * Time as a dependency. The core never calls Date.now() or setTimeout itself, so tests drive it with a
 * fake clock and assert exact timings instead of sleeping.
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms` of this clock's time; rejects with `signal.reason` if aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` after `ms` of this clock's time; the returned function cancels it. */
  schedule(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
  schedule(ms, fn) {
    const timer = setTimeout(fn, ms);
    // A pending timeout must not keep a CLI process alive after its work is done.
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** A signal that aborts with `reason` after `ms` of the clock's time; `clear()` cancels it. */
export function timeoutSignal(
  clock: Clock,
  ms: number,
  reason: unknown,
): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const cancel = clock.schedule(ms, () => controller.abort(reason));
  return { signal: controller.signal, clear: cancel };
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Seconds with millisecond precision, as the original reports had them. */
export function secondsBetween(startMs: number, endMs: number): number {
  return Math.round(endMs - startMs) / 1000;
}
