import { createHeaderProvider } from './auth/create';
import { createCallerCheck } from './auth/incoming/create';
import type { CallerCheck } from './auth/incoming/types';
import type { HeaderProvider } from './auth/types';
import type { CollectorConfig, Config } from './config/types';
import type { Collector } from './runtime/contract';
import { createNodeTransport, type HttpTransport } from './dispatch/transport';
import { LeaseManager } from './lease/lease';
import { createTokenBroker } from './token/broker';
import type { TokenBroker } from './token/types';
import { EmbeddedCollectors } from './http/embedded';
import { CollectorRegistry } from './runtime/registry';
import type { CollectorRuntime } from './runtime/run-collector';
import { envSecretSource } from './secrets/env-source';
import { SecretManagerSource } from './secrets/secret-manager';
import type { SecretSource } from './secrets/types';
import { openStore, type StoreOpener } from './store/open';
import type { ObjectStore } from './store/types';
import { systemClock, type Clock } from './util/clock';
import { createLogger, type Logger } from './util/log';
import { builtinCollectors } from '../collectors';

/** Everything the core needs, passed in rather than imported, so tests substitute loopback servers. */
export interface Services {
  config: Config;
  clock: Clock;
  logger: Logger;
  /** For collectors' upstream calls. */
  fetch: typeof fetch;
  /** For calls to collectors (keep-alive node:http; see transport.ts). */
  transport: HttpTransport;
  random: () => number;
  env: Readonly<Record<string, string | undefined>>;
  stores: { reports: ObjectStore; raw: ObjectStore; state: ObjectStore };
  registry: CollectorRegistry;
  /** Credentials for collectors (env vars, Secret Manager). */
  secrets: SecretSource;
  /** Group and login leases, in the state store. */
  leases: LeaseManager;
  /** Shared account tokens, in the state store. */
  tokens: TokenBroker;
  /** Headers for calls to collectors (the process's own token for the embedded loopback server). */
  auth: HeaderProvider;
  /** Who may call the function's routes (scheduler.incoming_auth). */
  callers: CallerCheck;
  embedded: EmbeddedCollectors;
  /** Aborted with a CancelledError when a signal stops the process (the CLI's Ctrl-C, Cloud Run's SIGTERM). */
  shutdown: AbortSignal;
  close(): Promise<void>;
}

export interface ServiceOptions {
  clock?: Clock;
  logger?: Logger;
  fetch?: typeof fetch;
  random?: () => number;
  env?: Readonly<Record<string, string | undefined>>;
  openStore?: StoreOpener;
  registry?: CollectorRegistry;
  auth?: HeaderProvider;
  secrets?: SecretSource;
  /** Lease polling: the longest wait between two looks at a busy lease (default 2 s). */
  leaseMaxPollMs?: number;
  /** The life of a group lease between renewals (default DEFAULT_LEASE_TTL_MS, 60 s). */
  leaseTtlMs?: number;
  /** See Services.shutdown; by default nothing stops the process early. */
  shutdown?: AbortSignal;
}

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

/**
 * The implementation and config entry behind a collector name: a configured entry (which may be
 * another job of a built-in collector, like xmp-daily of xmp), else a registered collector.
 */
export function resolveCollector(
  services: Services,
  name: string,
): { collector: Collector<unknown>; configured: CollectorConfig | undefined } | null {
  const configured = services.config.collectors.find((c) => c.name === name);
  const collector = services.registry.get(configured?.implementation ?? name);
  return collector ? { collector, configured } : null;
}

/**
 * The configured entry behind a collector route's name, and its implementation: null for a name that
 * is not configured (a built-in collector the config does not list included) or, unless
 * `includeDisabled`, whose entry is disabled. A route never runs anything else.
 */
export function configuredCollector(
  services: Services,
  name: string,
  { includeDisabled = false }: { includeDisabled?: boolean } = {},
): { collector: Collector<unknown>; configured: CollectorConfig } | null {
  const configured = services.config.collectors.find((c) => c.name === name);
  if (!configured || (!configured.enabled && !includeDisabled)) return null;
  const collector = services.registry.get(configured.implementation);
  return collector ? { collector, configured } : null;
}

/** What a collector run needs from the services. */
export function collectorRuntime(services: Services): CollectorRuntime {
  return {
    stores: { raw: services.stores.raw, state: services.stores.state },
    fetch: services.fetch,
    clock: services.clock,
    logger: services.logger,
    env: services.env,
    secrets: services.secrets,
    tokens: services.tokens,
    shutdown: services.shutdown,
  };
}
