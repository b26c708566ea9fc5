import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Faults a loopback upstream injects into its next matching responses, in order:
 * - `status`: answer this status (e.g. 429 with Retry-After, 500) instead of the real response;
 * - `reset`: destroy the connection without answering;
 * - `truncate`: send the headers and the first `afterBytes` of the body, then destroy the connection
 *   (servers that stream bodies apply it themselves);
 * - `slow`: answer normally once `gate` resolves (the test decides when, no timers involved);
 * - `hang`: never answer (the connection is dropped when the server closes).
 */
export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'reset' }
  | { kind: 'truncate'; afterBytes: number }
  | { kind: 'slow'; gate: Promise<void> }
  | { kind: 'hang' };

interface Planned {
  fault: Fault;
  match: RegExp | null;
  remaining: number;
}

export class Faults {
  private planned: Planned[] = [];
  private hangingAll = false;
  /** Faults applied so far, with the path they hit. */
  readonly applied: { path: string; kind: Fault['kind'] }[] = [];

  /** The next `times` requests whose path matches `match` (default: any) get `fault`. */
  inject(fault: Fault, options: { times?: number; match?: RegExp } = {}): this {
    this.planned.push({ fault, match: options.match ?? null, remaining: options.times ?? 1 });
    return this;
  }

  /** From now on every request is held open: for tests of a collector's cancellation. */
  hangEverything(): void {
    this.hangingAll = true;
  }

  clear(): void {
    this.planned = [];
    this.hangingAll = false;
  }

  /** The fault for this request, if any (consumed). */
  take(path: string): Fault | null {
    if (this.hangingAll) return { kind: 'hang' };
    const planned = this.planned.find((p) => p.remaining > 0 && (!p.match || p.match.test(path)));
    if (!planned) return null;
    planned.remaining--;
    if (planned.remaining === 0) this.planned.splice(this.planned.indexOf(planned), 1);
    this.applied.push({ path, kind: planned.fault.kind });
    return planned.fault;
  }

  /**
   * Applies the generic faults. Resolves true when the request has been dealt with (the server must not
   * answer it), false when the server should answer normally; `truncate` is returned for the server.
   */
  async apply(req: IncomingMessage, res: ServerResponse): Promise<boolean | { truncateAfter: number }> {
    const fault = this.take(req.url ?? '');
    if (!fault) return false;
    switch (fault.kind) {
      case 'status': {
        const body = fault.body ?? JSON.stringify({ error: `injected ${fault.status}` });
        res.writeHead(fault.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...fault.headers,
        });
        res.end(body);
        return true;
      }
      case 'reset':
        req.socket.destroy();
        return true;
      case 'hang':
        return true;
      case 'slow':
        await fault.gate;
        return false;
      case 'truncate':
        return { truncateAfter: fault.afterBytes };
    }
  }
}

/** A gate a test opens by hand: `slow` faults and streaming servers wait on it. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Writes `body` in chunks, honouring backpressure; stops early (and resets) when `truncateAfter` is set. */
export async function writeChunked(
  res: ServerResponse,
  body: Buffer,
  options: {
    chunkBytes?: number;
    truncateAfter?: number;
    pauseAfter?: { bytes: number; until: Promise<void> };
  } = {},
): Promise<void> {
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  const limit = options.truncateAfter ?? body.length;
  let paused = false;
  for (let offset = 0; offset < limit; offset += chunkBytes) {
    if (options.pauseAfter && !paused && offset >= options.pauseAfter.bytes) {
      paused = true;
      await options.pauseAfter.until;
    }
    const chunk = body.subarray(offset, Math.min(offset + chunkBytes, limit));
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    if (res.destroyed) return;
  }
  if (options.truncateAfter !== undefined) {
    res.socket?.destroy();
    return;
  }
  res.end();
}
