import type { Request, Response } from '@google-cloud/functions-framework';
import { configPath, loadConfig } from '../config/load';
import { builtinCollectors } from '../../collectors';
import { createServices, type Services } from '../create-services';
import { systemClock, type Clock } from '../util/clock';
import { createLogger, type Logger } from '../util/log';
import { Memo } from '../util/single-flight';
import { createApp } from './app';
import { withRequestLog } from './request-log';
import { instanceShutdown } from './shutdown';
import type { AppHandler } from './types';

/**
 * The Cloud Function's request handler. Config, stores and clients are built on the first request that
 * needs them and kept for the instance's life; a failure to build them (a bad config) is answered as a
 * JSON error and retried on the next request rather than cached.
 */
export function createFunctionHandler(
  buildServices: () => Promise<Services> = defaultServices,
  startupLogger: Logger = createLogger(),
  /** The request log: where it goes, its clock, and where the trace's project comes from. */
  options: { requestLogger?: Logger; clock?: Clock; env?: Readonly<Record<string, string | undefined>> } = {},
): (req: Request, res: Response) => Promise<void> {
  const services = new Memo<Services>(() => buildServices());
  const getServices = () => services.get();
  const env = options.env ?? process.env;
  // Every request is logged once, rejections included, with its trace.
  const app: AppHandler = withRequestLog(
    createApp(getServices, {
      startupLogger,
      // A deployed function cannot check callers without its config, so they learn nothing about it.
      hideStartupErrors: env['K_SERVICE'] !== undefined,
    }),
    {
      logger: options.requestLogger ?? createLogger(),
      clock: options.clock ?? systemClock,
      project: env['GOOGLE_CLOUD_PROJECT'],
    },
  );
  return async (req, res) => {
    const response = await app({
      method: req.method,
      path: req.path,
      headers: req.headers,
      body: req.rawBody,
      query: firstValues(req.query),
    });
    res.status(response.status).set(response.headers ?? {});
    // A page (text/html) goes as it is; everything else is JSON.
    if (typeof response.body === 'string' && response.headers?.['content-type']) res.send(response.body);
    else res.json(response.body);
  };
}

/** Express's parsed query (strings, arrays, nested objects) as one string per name. */
function firstValues(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string') out[name] = first;
  }
  return out;
}

async function defaultServices(): Promise<Services> {
  return createServices(
    await loadConfig(configPath(undefined), process.env, {
      collectors: builtinCollectors(),
      // A deployed instance must share its state store with every other instance.
      deployedAs: process.env['K_SERVICE'],
    }),
    { shutdown: instanceShutdown.signal },
  );
}
