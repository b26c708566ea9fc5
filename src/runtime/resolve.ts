import type { CollectorConfig, Config } from '../config/types';
import type { Collector } from './contract';
import type { CollectorRegistry } from './registry';
import type { CollectorRuntime } from './run-collector';

/** What finding a collector needs: the config's entries and the registered implementations. */
export interface CollectorCatalogue {
  config: Pick<Config, 'collectors'>;
  registry: Pick<CollectorRegistry, 'get'>;
}

/**
 * The implementation and config entry behind a collector name: a configured entry (which may be
 * another job of a built-in collector, like xmp-daily of xmp), else a registered collector.
 */
export function resolveCollector(
  services: CollectorCatalogue,
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
  services: CollectorCatalogue,
  name: string,
  { includeDisabled = false }: { includeDisabled?: boolean } = {},
): { collector: Collector<unknown>; configured: CollectorConfig } | null {
  const configured = services.config.collectors.find((c) => c.name === name);
  if (!configured || (!configured.enabled && !includeDisabled)) return null;
  const collector = services.registry.get(configured.implementation);
  return collector ? { collector, configured } : null;
}

/** What a collector run needs from the services, and nothing more (the reports store stays out). */
export function collectorRuntime(services: CollectorRuntime & { shutdown: AbortSignal }): CollectorRuntime {
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
