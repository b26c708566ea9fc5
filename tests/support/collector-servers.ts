import type * as http from 'node:http';
import { json, startServer, type TestServer } from './http';

/**
 * Fake collectors on loopback, each one behaviour: what the dispatcher must survive. Every server
 * answers on any path, so a target URL can carry a query string.
 */
export type Behaviour =
  | { kind: 'ok'; result?: unknown }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'slow'; ms: number }
  | { kind: 'html' }
  | { kind: 'huge'; declared: boolean }
  | {
      kind: 'run';
      status: 'success' | 'failed' | 'skipped';
      httpStatus?: number;
      error?: string;
      reason?: string;
    };

/** Serves `behaviours[i]` to the i-th request (the last one repeats). */
export async function collectorServer(...behaviours: Behaviour[]): Promise<TestServer> {
  return startServer((req, res, _body, index) =>
    serve(behaviours[Math.min(index, behaviours.length - 1)]!, req, res),
  );
}

function serve(b: Behaviour, req: http.IncomingMessage, res: http.ServerResponse): void {
  switch (b.kind) {
    case 'ok':
      return json(res, 200, b.result ?? { ok: true });
    case 'status':
      return json(res, b.status, b.body ?? { error: `status ${b.status}` }, b.headers);
    case 'hang':
      return; // never answers; the connection is dropped when the server closes
    case 'reset':
      req.socket.destroy();
      return;
    case 'slow':
      setTimeout(() => json(res, 200, { ok: true, slow: true }), b.ms);
      return;
    case 'html':
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<html><body>Sign in to continue</body></html>');
      return;
    case 'huge': {
      // Announces (or streams without announcing) 2 GB and keeps writing until the client goes away.
      res.writeHead(
        200,
        b.declared
          ? { 'content-type': 'application/json', 'content-length': String(2 * 1024 ** 3) }
          : { 'content-type': 'application/json' },
      );
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
      return;
    }
    case 'run': {
      const run = {
        collector: 'remote',
        executionId: 'x',
        scheduledTime: '2026-11-22T14:00:00.000Z',
        attempt: 1,
        status: b.status,
        startTime: '2026-11-22T14:00:00.000Z',
        endTime: '2026-11-22T14:00:01.000Z',
        durationSeconds: 1,
        error: b.error ?? null,
        errorType: b.status === 'failed' ? 'UPSTREAM_HTTP' : null,
        retryable: false,
        reason: b.reason ?? null,
        result: b.status === 'success' ? { records: 3 } : null,
        manifest: null,
      };
      return json(res, b.httpStatus ?? 200, { run });
    }
  }
}
