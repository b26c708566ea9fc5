import type * as http from 'node:http';
import { close, createNodeServer, listen } from './node-server';
import type { AppHandler } from './types';

/**
 * With no collector URL configured, the scheduler serves the collector routes itself on a loopback
 * port and dispatches to them over HTTP, so a local run takes the same path as the cloud one.
 * Started on first use, once per process.
 */
export class EmbeddedCollectors {
  private server: http.Server | null = null;
  private base: Promise<string> | null = null;
  /** Collector runs in progress: closing waits for them to record how they ended. */
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly handler: () => AppHandler) {}

  baseUrl(): Promise<string> {
    this.base ??= (async () => {
      const handle = this.handler();
      this.server = createNodeServer((request) => {
        const run = handle(request);
        const settled = run.catch(() => undefined).finally(() => this.running.delete(settled));
        this.running.add(settled);
        return run;
      });
      // An idle embedded server must not keep a CLI process alive.
      this.server.unref();
      return listen(this.server);
    })();
    return this.base;
  }

  isEmbedded(url: string): boolean {
    return (
      this.server !== null &&
      this.base !== null &&
      url.startsWith(`http://127.0.0.1:${(this.server.address() as { port: number } | null)?.port}/`)
    );
  }

  /**
   * Stops the server once the runs in progress have ended. A run the scheduler stopped waiting for (the
   * deadline, a signal) is aborted by the same signal and still writes its run record; leaving earlier
   * would leave that record at `running`.
   */
  async close(): Promise<void> {
    await Promise.all([...this.running]);
    if (this.server) await close(this.server);
    this.server = null;
    this.base = null;
  }
}
