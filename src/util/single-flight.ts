/**
 * Concurrent callers asking for the same key share one piece of work. The work gets a signal that aborts
 * only when every caller waiting on it has given up, so one job's deadline never cancels a login
 * another job still needs; each caller still settles as soon as its own signal aborts.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let flight = this.flights.get(key);
    if (!flight) {
      const controller = new AbortController();
      const created: Flight<T> = { controller, waiters: 0, promise: Promise.resolve() as Promise<T> };
      created.promise = Promise.resolve()
        .then(() => work(controller.signal))
        .finally(() => {
          if (this.flights.get(key) === created) this.flights.delete(key);
        });
      // A flight nobody waits for any more still settles; its rejection must not go unhandled.
      created.promise.catch(() => undefined);
      this.flights.set(key, created);
      flight = created;
    }
    return this.wait(key, flight, signal);
  }

  /** Keys with work in progress (for tests and diagnostics). */
  get size(): number {
    return this.flights.size;
  }

  private wait(key: string, flight: Flight<T>, signal?: AbortSignal): Promise<T> {
    flight.waiters++;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const leave = () => {
        if (done) return false;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        flight.waiters--;
        return true;
      };
      const onAbort = () => {
        if (!leave()) return;
        if (flight.waiters === 0) {
          // Nobody wants the result any more: stop the work, and let the next caller start afresh.
          if (this.flights.get(key) === flight) this.flights.delete(key);
          flight.controller.abort(signal?.reason);
        }
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          if (leave()) resolve(value);
        },
        (error: unknown) => {
          if (leave()) reject(error);
        },
      );
    });
  }
}

interface Flight<T> {
  controller: AbortController;
  waiters: number;
  promise: Promise<T>;
}

/**
 * An async value loaded on first use and kept: callers at the same time share one load, and a failed
 * load is forgotten, so the next call tries again (a missing credential may be fixed, an outage may end).
 * `onFailure` runs when a failure is forgotten (to reset whatever else remembered it).
 */
export class Memo<T> {
  private value: Promise<T> | null = null;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly onFailure?: (error: unknown) => void,
  ) {}

  get(): Promise<T> {
    if (this.value) return this.value;
    const loading = this.load();
    this.value = loading;
    loading.catch((error: unknown) => {
      if (this.value !== loading) return;
      this.value = null;
      this.onFailure?.(error);
    });
    return loading;
  }

  /** The value kept or loading, without starting a load. */
  peek(): Promise<T> | null {
    return this.value;
  }

  /** Forgets the value: the next `get` loads again. */
  clear(): void {
    this.value = null;
  }
}

/** `Memo` by key: one value per key, each loaded on first use, a failed load forgotten. */
export class MemoMap<K, T> {
  private readonly values = new Map<K, Promise<T>>();

  get(key: K, load: (key: K) => Promise<T>): Promise<T> {
    const kept = this.values.get(key);
    if (kept) return kept;
    const loading = load(key);
    this.values.set(key, loading);
    loading.catch(() => {
      if (this.values.get(key) === loading) this.values.delete(key);
    });
    return loading;
  }

  /** The values kept or loading (to close them). */
  peekAll(): Promise<T>[] {
    return [...this.values.values()];
  }

  clear(): void {
    this.values.clear();
  }
}
