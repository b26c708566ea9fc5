import type { BackfillLimits, CollectorScheduling } from './scheduling';
import type { AlertsConfig, DeployConfig } from './ops-sections';

/** Closed sets as const tuples, each with its union type (see STYLE.md). */
export const DISPATCH_MODES = ['http', 'tasks'] as const;
export type DispatchMode = (typeof DISPATCH_MODES)[number];

export const AUTH_TYPES = ['none', 'bearer', 'google-id-token'] as const;
export type AuthType = (typeof AUTH_TYPES)[number];

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  minBackoffSeconds: number;
  maxBackoffSeconds: number;
}

export type AuthConfig =
  { type: 'none' } | { type: 'google-id-token' } | { type: 'bearer'; tokenEnv: string; secret?: string };

/**
 * Who may call the function (every route but GET /healthz), `scheduler.incoming_auth`. Not to be
 * confused with `AuthConfig`, how the scheduler authenticates itself to collectors.
 */
export type IncomingAuthConfig =
  | {
      type: 'google-id-token';
      /** Accepted `aud` values: the function's URL(s); a collector route also accepts its configured URL. */
      audiences: readonly string[];
      /** Accepted `email` claims (lower case): the Scheduler and Tasks service accounts, named operators. */
      allowedEmails: readonly string[];
      /** Google's PEM certificates for ID tokens; tests point it at a loopback server. */
      certsUrl: string;
    }
  | { type: 'bearer'; tokenEnv: string; secret?: string }
  | { type: 'none'; allowUnauthenticated: boolean };

export interface TasksConfig {
  project?: string;
  location?: string;
  queue: string;
  serviceAccountEmail?: string;
  /** Queue settings applied by `scheduler queues`. */
  maxDispatchesPerSecond: number;
  maxConcurrentDispatches: number;
  maxAttempts: number;
}

export interface CollectorConfig {
  name: string;
  /** The collector implementation this entry runs (its own name unless `collector:` says otherwise). */
  implementation: string;
  enabled: boolean;
  /** A 5-field cron expression (or @daily-style nickname); null: never due on a tick. */
  schedule: string | null;
  /** Where the collector is served; null means the scheduler serves it itself on loopback. */
  url: string | null;
  timeoutSeconds: number;
  options: Readonly<Record<string, unknown>>;
  group: string | null;
  groupWaitSeconds: number;
  queue: string | null;
  retry: RetryPolicy;
  /** Each run split into the shards its collector lists, each run on its own (shards/). */
  shards: boolean;
  /** Catch-up, overlap, jitter and pause policies (config/scheduling.ts). */
  scheduling: CollectorScheduling;
}

/** A setting of the config file that nothing here uses (the original layout's, mostly), and why. */
export interface IgnoredSetting {
  path: string;
  why: string;
}

/** The original layout's `monitoring` section, normalised (alerts after consecutive failures). */
export interface MonitoringConfig {
  enableAlerts: boolean;
  /** As written: channel names (`email`, `slack`) or channel objects. */
  alertChannels: readonly (string | Readonly<Record<string, unknown>>)[];
  /** Consecutive failures of a collector before an alert. */
  failureThreshold: number;
}

export interface Config {
  /** The file it was loaded from, for messages. */
  source: string;
  timezone: string;
  storage: { reports: string; raw: string; state: string };
  scheduler: {
    mode: DispatchMode;
    maxConcurrentCollectors: number;
    deadlineSeconds: number;
    /** After the deadline (or a cancellation), how long writing the report may take before it is only logged. */
    reportBudgetSeconds: number;
    maxResponseBytes: number;
    retry: RetryPolicy;
    auth: AuthConfig;
    incomingAuth: IncomingAuthConfig;
    tasks: TasksConfig;
    /** Legacy `use_secret_manager`: collector credentials come from Secret Manager. */
    useSecretManager: boolean;
    backfill: BackfillLimits;
  };
  /** In config order: group members run in this order. */
  collectors: readonly CollectorConfig[];
  /** `monitoring` of the original layout; null when the file has none. */
  monitoring: MonitoringConfig | null;
  /** What the file sets that nothing uses (listed by `run --dry-run`). */
  ignored: readonly IgnoredSetting[];
  /** Failure alerts (`alerts`, or the original `monitoring`); optional for hand-built configs. */
  alerts?: AlertsConfig;
  /** What `scheduler deploy` sets up (`deploy`, or the original `cloud_functions`). */
  deploy?: DeployConfig;
}

/** Defaults, where they are documented. */
export const DEFAULTS = {
  timezone: 'UTC',
  storage: { reports: './var/reports', raw: './var/raw', state: './var/state' },
  mode: 'http' as DispatchMode,
  /** Collectors called at once in HTTP mode. */
  maxConcurrentCollectors: 4,
  /** Under the 540 s limit of a 1st-gen Cloud Function, leaving time to write the report. */
  deadlineSeconds: 500,
  /** Time left after the deadline to settle the dispatch and write the report; past it the report is only logged. */
  reportBudgetSeconds: 30,
  /** A collector's JSON summary is small; anything past this is cut off and reported. */
  maxResponseBytes: 1024 * 1024,
  retry: { attempts: 3, minBackoffSeconds: 1, maxBackoffSeconds: 30 },
  collectorTimeoutSeconds: 300,
  groupWaitSeconds: 0,
  tokenEnv: 'FUNCTION_AUTH_TOKEN',
  /** Where Google publishes the certificates that sign its ID tokens (PEM, keyed by `kid`). */
  googleCertsUrl: 'https://www.googleapis.com/oauth2/v1/certs',
  queue: 'data-collectors',
  maxDispatchesPerSecond: 5,
  maxConcurrentDispatches: 10,
  maxTaskAttempts: 5,
} as const;
