import * as ff from '@google-cloud/functions-framework';
import type { Request, Response } from '@google-cloud/functions-framework';
import { passJsonParseErrorsThrough } from './http/json-parse-errors';
import { logRequest } from './http/request-log';
import { createLogger } from './util/log';

/**
 * The Cloud Function entry point (target `scheduler`). Importing this module loads only
 * functions-framework: config, stores and Google clients are loaded on the first request that needs
 * them, so a cold start answers `GET /healthz` at once.
 */
passJsonParseErrorsThrough();

let handler: ((req: Request, res: Response) => Promise<void>) | null = null;

const healthLog = createLogger();

ff.http('scheduler', async (req: Request, res: Response) => {
  if (req.path === '/healthz' && req.method === 'GET') {
    res.status(200).json({ status: 'ok' });
    logRequest(healthLog, req, 200, 0);
    return;
  }
  handler ??= (
    require('./http/function-handler') as typeof import('./http/function-handler')
  ).createFunctionHandler();
  await handler(req, res);
});
