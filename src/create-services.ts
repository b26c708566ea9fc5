import { createHeaderProvider } from './auth/create';
import { createCallerCheck } from './auth/incoming/create';
import { createNodeTransport } from './dispatch/transport';
import { EmbeddedCollectors } from './http/embedded';
import { LeaseManager } from './lease/lease';
import { CollectorRegistry } from './runtime/registry';
import { envSecretSource } from './secrets/env-source';
import { SecretManagerSource } from './secrets/secret-manager';
import type { Config } from './config/types';
import { openStore } from './store/open';
import { createTokenBroker } from './token/broker';
import { systemClock } from './util/clock';
import { createLogger } from './util/log';
import type { ServiceOptions, Services } from './services';
import { builtinCollectors } from '../collectors';

export type { ServiceOptions, Services } from './services';

/**
 * The composition root: builds every service of one process from the config. Only entry points (the
 * function handler, the CLI, benchmarks) import it.
 */
export async function createServices(config: Config, options: ServiceOptions = {}): Promise<Services> {
  const open = options.openStore ?? openStore;
  const env = options.env ?? process.env;
  const [reports, raw, state] = await Promise.all([
    open(config.storage.reports),
    open(config.storage.raw),
    open(config.storage.state),
  ]);
  const secrets =
    options.secrets ?? envSecretSource(env, new SecretManagerSource({ clock: options.clock ?? systemClock }));
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  const random = options.random ?? Math.random;
  const upstreamAuth =
    options.auth ??
    createHeaderProvider(config.scheduler.auth, { env, secrets, clock: options.clock ?? systemClock });
  const leases = new LeaseManager(state, clock, logger, random, options.leaseMaxPollMs, options.leaseTtlMs);
  const callers = createCallerCheck(config, {
    env,
    secrets,
    logger,
    fetch: options.fetch ?? globalThis.fetch,
  });
  const services: Services = {
    config,
    clock,
    logger,
    fetch: options.fetch ?? globalThis.fetch,
    transport: createNodeTransport(clock, config.scheduler.maxConcurrentCollectors),
    random,
    env,
    stores: { reports, raw, state },
    leases,
    tokens: createTokenBroker({ store: state, leases, clock, logger }),
    registry: options.registry ?? new CollectorRegistry(builtinCollectors()),
    secrets,
    auth: {
      headersFor: async (url) =>
        services.embedded.isEmbedded(url) ? services.embedded.headers() : upstreamAuth.headersFor(url),
    },
    callers,
    // The app is loaded when a collector is served in this process: a run of collectors at their own
    // URLs never pays for importing the HTTP routes.
    embedded: new EmbeddedCollectors((embeddedCallers) =>
      (require('./http/app') as typeof import('./http/app')).createApp(async () => services, {
        collectorsOnly: true,
        callers: embeddedCallers,
      }),
    ),
    shutdown: options.shutdown ?? new AbortController().signal,
    close: async () => {
      services.transport.close();
      await services.embedded.close();
    },
  };
  return services;
}
