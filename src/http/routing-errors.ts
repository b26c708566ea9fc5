import type * as http from 'node:http';
import * as path from 'node:path';

type Done = (error?: unknown) => void;
type Handle = ((req: http.IncomingMessage, res: http.ServerResponse, callback?: Done) => void) & {
  schedulerJson?: true;
};

/**
 * Errors raised by express itself, before our function runs, answer our JSON error shape instead of
 * express's HTML page: a path with malformed percent-encoding (`/reports/%E0%A4%A`, which express's
 * router fails to decode), a body over the size limit or in an unknown charset. functions-framework
 * gives no hook for an error handler, so its express application's final handler is replaced; this
 * must run before functions-framework builds its server, i.e. when the function module is loaded.
 */
export function answerRoutingErrorsAsJson(): void {
  let express: { application: { handle: Handle } };
  try {
    const framework = require.resolve('@google-cloud/functions-framework');
    express = require(require.resolve('express', { paths: [path.dirname(framework)] })) as typeof express;
  } catch {
    return;
  }
  const original = express.application.handle;
  if (original.schedulerJson) return;
  const handle: Handle = function (this: unknown, req, res, callback) {
    return original.call(this, req, res, callback ?? ((error?: unknown) => answerJson(res, error)));
  };
  handle.schedulerJson = true;
  express.application.handle = handle;
}

/** What express's final handler would have answered, as JSON. */
export function answerJson(res: http.ServerResponse, error?: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const e = (error ?? null) as { status?: unknown; statusCode?: unknown; message?: unknown } | null;
  const given = Number(e?.status ?? e?.statusCode);
  const status = e === null ? 404 : given >= 400 && given < 600 ? given : 500;
  let body: { code: string; message: string };
  if (status === 404) body = { code: 'NOT_FOUND', message: 'no such route' };
  else if (error instanceof URIError)
    body = {
      code: 'REQUEST_INVALID',
      message: 'the request path has malformed percent-encoding; encode reserved characters as %XX',
    };
  else if (status < 500) body = { code: 'REQUEST_INVALID', message: String(e?.message ?? 'bad request') };
  else {
    process.stderr.write(`unexpected error before the function ran: ${String(e?.message ?? error)}\n`);
    body = { code: 'INTERNAL', message: 'internal error' };
  }
  const text = JSON.stringify({ error: body });
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
