import * as ff from '@google-cloud/functions-framework';
import type { Request, Response } from '@google-cloud/functions-framework';
import { passJsonParseErrorsThrough } from './http/json-parse-errors';
import { logRequest } from './http/request-log';
import { createLogger } from './util/log';
import { answerRoutingErrorsAsJson } from './http/routing-errors';
import { instanceShutdown } from './http/shutdown';

/**
 * The Cloud Function entry point (target `scheduler`). Importing this module loads only
 * functions-framework: config, stores and Google clients are loaded on the first request that needs
 * them, so a cold start answers `GET /healthz` at once.
 */
passJsonParseErrorsThrough();
answerRoutingErrorsAsJson();

let handler: ((req: Request, res: Response) => Promise<void>) | null = null;

const healthLog = createLogger();

ff.http('scheduler', async (req: Request, res: Response) => {
  if (req.path === '/healthz' && req.method === 'GET') {
    res.status(200).json({ status: 'ok' });
    logRequest(healthLog, req, 200, 0);
    return;
  }
  // functions-framework's server registers its SIGTERM listener once listening, before any request.
  if (servedByFunctionsFramework()) instanceShutdown.install();
  handler ??= (
    require('./http/function-handler') as typeof import('./http/function-handler')
  ).createFunctionHandler();
  const answered = new Promise<void>((resolve) => res.once('close', () => resolve()));
  await instanceShutdown.track(Promise.all([handler(req, res), answered]));
});

/** Under functions-framework's own server (Cloud Functions, Cloud Run, `npm start`), not a test's. */
function servedByFunctionsFramework(): boolean {
  const main = require.main?.filename ?? '';
  return /functions-framework[\\/]build[\\/]src[\\/]main\.js$/.test(main);
}
