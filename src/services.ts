import type { CallerCheck } from './auth/incoming/types';
import type { HeaderProvider } from './auth/types';
import type { Config } from './config/types';
import type { HttpTransport } from './dispatch/transport';
import type { EmbeddedCollectors } from './http/embedded';
import type { LeaseManager } from './lease/lease';
import type { CollectorRegistry } from './runtime/registry';
import type { SecretSource } from './secrets/types';
import type { StoreOpener } from './store/open';
import type { ObjectStore } from './store/types';
import type { TokenBroker } from './token/types';
import type { Clock } from './util/clock';
import type { Logger } from './util/log';

/*
 * Types only: every part of the core takes its dependencies as a `Services` (or a narrower slice of
 * it), and none imports the composition root (create-services.ts) that builds them.
 */

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
