import { randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import { bearerCheck } from '../auth/incoming/bearer';
import type { CallerCheck } from '../auth/incoming/types';
import { registerSecret } from '../util/secrets';
import { close, createNodeServer, listen } from './node-server';
import type { AppHandler } from './types';

/**
 * With no collector URL configured, the scheduler serves the collector routes itself on a loopback
 * port and dispatches to them over HTTP, so a local run takes the same path as the cloud one.
 * Started on first use, once per process.
 *
 * Any process on the machine can reach a loopback port, so the server trusts only its own process: it
 * accepts one bearer token, 32 random bytes made at start, held in memory only, and sent by this
 * process's dispatcher to embedded URLs (`headers()`).
 */
export class EmbeddedCollectors {
  private server: http.Server | null = null;
  private base: Promise<string> | null = null;
  private readonly token = randomBytes(32).toString('base64url');
  /** Collector runs in progress: closing waits for them to record how they ended. */
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly handler: (callers: CallerCheck) => AppHandler) {
    registerSecret(this.token);
  }

  /** The credential of this process's own calls to the embedded server. */
  headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  baseUrl(): Promise<string> {
    this.base ??= (async () => {
      const handle = this.handler(bearerCheck(async () => this.token, 'the embedded server token'));
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
