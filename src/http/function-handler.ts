import type { Request, Response } from '@google-cloud/functions-framework';
import { configPath, loadConfig } from '../config/load';
import { builtinCollectors } from '../../collectors';
import { createServices, type Services } from '../services';
import { createLogger, type Logger } from '../util/log';
import { createApp } from './app';
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
): (req: Request, res: Response) => Promise<void> {
  let services: Promise<Services> | null = null;
  const getServices = () => {
    services ??= buildServices().catch((error: unknown) => {
      services = null;
      throw error;
    });
    return services;
  };
  const app: AppHandler = createApp(getServices, {
    startupLogger,
    // A deployed function cannot check callers without its config, so they learn nothing about it.
    hideStartupErrors: process.env['K_SERVICE'] !== undefined,
  });
  return async (req, res) => {
    const response = await app({
      method: req.method,
      path: req.path,
      headers: req.headers,
      body: req.rawBody,
    });
    res
      .status(response.status)
      .set(response.headers ?? {})
      .json(response.body);
  };
}

async function defaultServices(): Promise<Services> {
  return createServices(
    await loadConfig(configPath(undefined), process.env, {
      builtinCollectors: builtinCollectors().map((c) => c.name),
      // A deployed instance must share its state store with every other instance.
      deployedAs: process.env['K_SERVICE'],
    }),
    { shutdown: instanceShutdown.signal },
  );
}
