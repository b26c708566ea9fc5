import { CancelledError, STOP_SIGNALS, type StopSignal } from '../util/cancel';

/**
 * A stop signal for the function's instance. Cloud Run sends SIGTERM, then SIGKILL 10 s later, when
 * it stops an instance; functions-framework's own listener answers the latest request 500 and exits at
 * once, which would leave running executions without a report and their run records at `running`.
 * Once installed, a stop signal first aborts `signal` (running executions cancel their collectors, write
 * their reports within the report budget and answer), waits for the requests in flight, then hands
 * over to the listeners that were there (functions-framework's: exit).
 */
export class GracefulShutdown {
  private readonly controller = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();
  private installed = false;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Counts `work` as in flight until it settles. */
  track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
    return work;
  }

  /** Takes over the process's SIGINT and SIGTERM listeners (once). */
  install(proc: NodeJS.Process = process): void {
    if (this.installed) return;
    this.installed = true;
    for (const name of STOP_SIGNALS) {
      const previous = proc.listeners(name) as Array<(signal: NodeJS.Signals) => void>;
      proc.removeAllListeners(name);
      proc.on(name, () => void this.stop(name, previous, proc));
    }
  }

  private async stop(
    name: StopSignal,
    previous: Array<(signal: NodeJS.Signals) => void>,
    proc: NodeJS.Process,
  ): Promise<void> {
    if (this.controller.signal.aborted) return;
    this.controller.abort(new CancelledError(name));
    await Promise.all([...this.inflight]);
    if (previous.length === 0) proc.exit(name === 'SIGINT' ? 130 : 143);
    for (const listener of previous) listener(name);
  }
}

/** The function instance's one stop signal. */
export const instanceShutdown = new GracefulShutdown();
