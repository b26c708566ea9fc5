import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SchedulerError } from '../errors';
import type { AppHandler } from './types';

const CALLER_GONE =
  'the scheduler stopped waiting for this run (its deadline_seconds or this timeout_seconds passed), so it was aborted';

/** Request bodies past this are refused (a dispatch payload is a few hundred bytes). */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/** Serves an AppHandler with node:http (the embedded collector server, and tests). */
export function createNodeServer(handler: AppHandler): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        if (!refused)
          send(res, 413, {
            error: { code: 'REQUEST_INVALID', message: `request body over ${MAX_REQUEST_BYTES} bytes` },
          });
        refused = true;
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const url = new URL(req.url ?? '/', 'http://localhost');
      // A caller that stops waiting (the scheduler at its deadline) stops the work it asked for.
      const gone = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) gone.abort(new SchedulerError('COLLECTOR_TIMEOUT', CALLER_GONE));
      });
      handler({
        method: req.method ?? 'GET',
        path: url.pathname,
        headers: req.headers,
        body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
        query: Object.fromEntries(url.searchParams),
        signal: gone.signal,
      }).then(
        (response) => send(res, response.status, response.body, response.headers),
        (error: unknown) =>
          send(res, 500, {
            error: { code: 'INTERNAL', message: String((error as Error)?.message ?? error) },
          }),
      );
    });
  });
}

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  // A page (text/html) goes as it is; everything else is JSON.
  const raw = typeof body === 'string' && headers['content-type'] !== undefined;
  const text = raw ? body : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': raw ? headers['content-type']! : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export async function listen(server: http.Server, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return `http://${host}:${port}`;
}

export async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
