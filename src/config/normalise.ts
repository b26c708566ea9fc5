import { parseLocation } from '../store/location';
import type { Complain } from './errors';
import { fitDeadline, ignoredSettings, monitoringOf } from './legacy-sections';
import { normaliseIncomingAuth } from './incoming-auth';
import { normaliseAlerts, normaliseDeploy } from './ops-sections';
import type { RawConfig } from './schema';
import { backfillLimits, collectorScheduling } from './scheduling';
import { DEFAULTS, type AuthConfig, type CollectorConfig, type Config, type RetryPolicy } from './types';

type RawCollector = NonNullable<RawConfig['collectors']>[string];
type RawRetry = RawCollector['retry'];
type RawScheduler = NonNullable<RawConfig['scheduler']>;

/**
 * Maps a schema-valid file, in either layout, onto the one typed Config, and checks what only makes
 * sense across keys. Problems go to `complain` with the key path they are about.
 */
export function normalise(raw: RawConfig, source: string, complain: Complain): Config {
  const s = raw.scheduler ?? {};
  const legacyCollectors = s.collectors;
  if (raw.collectors && legacyCollectors) {
    complain(
      'scheduler.collectors',
      'collectors are listed both here and under the top-level "collectors" key; keep one',
    );
  }
  const rawCollectors: Record<string, RawCollector> = raw.collectors ?? legacyCollectors ?? {};
  const collectorsPath = raw.collectors ? 'collectors' : 'scheduler.collectors';

  for (const name of Object.keys(s.collector_urls ?? {})) {
    if (!(name in rawCollectors))
      complain(
        `scheduler.collector_urls.${name}`,
        `names no configured collector (configured: ${Object.keys(rawCollectors).join(', ') || 'none'})`,
      );
  }

  const retry = retryPolicy(DEFAULTS.retry, s.retry, 'scheduler.retry', complain);
  const deadlineSeconds = fitDeadline(
    raw,
    s.deadline_seconds,
    s.report_budget_seconds ?? DEFAULTS.reportBudgetSeconds,
    complain,
  );
  const baseUrl = s.base_function_url?.replace(/\/+$/, '');

  const collectors = collectorConfigs(
    rawCollectors,
    collectorsPath,
    s,
    { retry, deadlineSeconds, baseUrl },
    complain,
  );

  const mode =
    s.mode ?? (s.use_cloud_tasks === undefined ? DEFAULTS.mode : s.use_cloud_tasks ? 'tasks' : 'http');
  if (s.mode && s.use_cloud_tasks !== undefined && (s.mode === 'tasks') !== s.use_cloud_tasks) {
    complain('scheduler.use_cloud_tasks', `contradicts scheduler.mode: ${s.mode}; keep one`);
  }

  const auth = authOf(s, collectors, complain);

  const tasks = tasksOf(raw, mode, collectors, collectorsPath, complain);

  const storage = storageOf(raw, complain);

  return {
    source,
    timezone: raw.timezone ?? s.timezone ?? DEFAULTS.timezone,
    storage,
    scheduler: {
      mode,
      maxConcurrentCollectors: s.max_concurrent_collectors ?? DEFAULTS.maxConcurrentCollectors,
      deadlineSeconds,
      reportBudgetSeconds: s.report_budget_seconds ?? DEFAULTS.reportBudgetSeconds,
      maxResponseBytes: s.max_response_bytes ?? DEFAULTS.maxResponseBytes,
      retry,
      auth,
      incomingAuth: normaliseIncomingAuth(s.incoming_auth, auth, complain),
      tasks,
      useSecretManager: s.use_secret_manager ?? false,
      backfill: backfillLimits(s, new Set(collectors.flatMap((c) => (c.group ? [c.group] : []))), complain),
    },
    collectors,
    monitoring: monitoringOf(raw),
    ignored: ignoredSettings(raw),
    alerts: normaliseAlerts(raw.alerts, raw.monitoring, complain),
    deploy: normaliseDeploy(raw.deploy, raw.cloud_functions),
  };
}

/** Each collector's entry, with the scheduler's defaults filled in. */
function collectorConfigs(
  rawCollectors: Record<string, RawCollector>,
  collectorsPath: string,
  s: RawScheduler,
  base: { retry: RetryPolicy; deadlineSeconds: number; baseUrl: string | undefined },
  complain: Complain,
): CollectorConfig[] {
  const { retry, deadlineSeconds, baseUrl } = base;
  return Object.entries(rawCollectors).map(([name, c]) => {
    const path = `${collectorsPath}.${name}`;
    const groupWaitSeconds = c.group_wait_seconds ?? DEFAULTS.groupWaitSeconds;
    if (groupWaitSeconds > deadlineSeconds) {
      complain(
        `${path}.group_wait_seconds`,
        `${groupWaitSeconds} s is longer than scheduler.deadline_seconds (${deadlineSeconds} s): the member would be cut off before it could run`,
      );
    }
    if (c.group_wait_seconds !== undefined && !c.group) {
      complain(`${path}.group_wait_seconds`, 'is set but the collector has no group');
    }
    return {
      name,
      implementation: c.collector ?? name,
      enabled: c.enabled ?? true,
      schedule: c.schedule ?? null,
      url: c.url ?? s.collector_urls?.[name] ?? (baseUrl ? `${baseUrl}/${name}` : null),
      timeoutSeconds: c.timeout_seconds ?? DEFAULTS.collectorTimeoutSeconds,
      options: c.options ?? {},
      group: c.group ?? null,
      groupWaitSeconds,
      queue: c.queue ?? null,
      retry: retryPolicy(retry, c.retry, `${path}.retry`, complain),
      shards: c.shards ?? false,
      scheduling: collectorScheduling(c, s, c.group ?? null, path, { deadlineSeconds }, complain),
    };
  });
}

/** How the scheduler authenticates to collectors; without a section, by where they are. */
function authOf(s: RawScheduler, collectors: readonly CollectorConfig[], complain: Complain): AuthConfig {
  const auth: AuthConfig =
    s.auth?.type === 'bearer'
      ? {
          type: 'bearer',
          tokenEnv: s.auth.token_env ?? DEFAULTS.tokenEnv,
          ...(s.auth.secret ? { secret: s.auth.secret } : {}),
        }
      : s.auth?.type === 'none'
        ? { type: 'none' }
        : s.auth?.type === 'google-id-token'
          ? { type: 'google-id-token' }
          : // No auth section: collectors on Google Cloud need ID tokens; loopback ones need nothing.
            collectors.some((c) => c.url !== null)
            ? { type: 'google-id-token' }
            : { type: 'none' };
  if (s.auth && s.auth.type !== 'bearer' && (s.auth.token_env || s.auth.secret)) {
    complain('scheduler.auth', `token_env and secret only apply to type: bearer (type is ${s.auth.type})`);
  }
  return auth;
}

/** Tasks mode's settings (current or original layout), and what tasks mode requires. */
function tasksOf(
  raw: RawConfig,
  mode: Config['scheduler']['mode'],
  collectors: readonly CollectorConfig[],
  collectorsPath: string,
  complain: Complain,
): Config['scheduler']['tasks'] {
  const s = raw.scheduler ?? {};
  const t = s.tasks ?? {};
  const tasks = {
    ...optional(
      'project',
      t.project ?? s.project_id ?? (typeof raw.project_id === 'string' ? raw.project_id : undefined),
    ),
    ...optional(
      'location',
      t.location ?? s.region ?? (typeof raw.region === 'string' ? raw.region : undefined),
    ),
    queue: t.queue ?? s.queue_name ?? DEFAULTS.queue,
    ...optional('serviceAccountEmail', t.service_account_email ?? s.service_account_email),
    maxDispatchesPerSecond: t.max_dispatches_per_second ?? DEFAULTS.maxDispatchesPerSecond,
    maxConcurrentDispatches: t.max_concurrent_dispatches ?? DEFAULTS.maxConcurrentDispatches,
    maxAttempts: t.max_attempts ?? DEFAULTS.maxTaskAttempts,
  };
  if (mode === 'tasks') {
    if (!tasks.project)
      complain(
        'scheduler.tasks.project',
        'is required in tasks mode (the Google Cloud project of the queue)',
      );
    if (!tasks.location)
      complain(
        'scheduler.tasks.location',
        'is required in tasks mode (the region of the queue, e.g. europe-west1)',
      );
    if (!tasks.serviceAccountEmail)
      complain(
        'scheduler.tasks.service_account_email',
        'is required in tasks mode (the identity Cloud Tasks signs OIDC tokens as)',
      );
    for (const c of collectors.filter((c) => c.url === null)) {
      complain(
        `${collectorsPath}.${c.name}.url`,
        'is required in tasks mode: Cloud Tasks must reach the collector at a public URL (or set scheduler.base_function_url)',
      );
    }
  }
  return tasks;
}

/** Where reports, raw output and state go; every location must parse. */
function storageOf(raw: RawConfig, complain: Complain): Config['storage'] {
  const reports = raw.storage?.reports ?? legacyBucket(raw, 'reports') ?? DEFAULTS.storage.reports;
  const storage = {
    reports,
    raw: raw.storage?.raw ?? legacyBucket(raw, 'raw') ?? DEFAULTS.storage.raw,
    state: raw.storage?.state ?? legacyBucket(raw, 'state') ?? stateBeside(reports),
  };
  for (const [key, uri] of Object.entries(storage)) {
    try {
      parseLocation(uri);
    } catch (error) {
      complain(`storage.${key}`, (error as Error).message);
    }
  }
  return storage;
}

function retryPolicy(base: RetryPolicy, r: RawRetry, path: string, complain: Complain): RetryPolicy {
  const policy = {
    attempts: r?.attempts ?? base.attempts,
    minBackoffSeconds: r?.min_backoff_seconds ?? base.minBackoffSeconds,
    maxBackoffSeconds: r?.max_backoff_seconds ?? base.maxBackoffSeconds,
  };
  if (policy.minBackoffSeconds > policy.maxBackoffSeconds) {
    complain(
      path,
      `min_backoff_seconds (${policy.minBackoffSeconds}) is larger than max_backoff_seconds (${policy.maxBackoffSeconds})`,
    );
  }
  return policy;
}

/**
 * The state store's default: beside the reports (`gs://b/x/reports` → `gs://b/x/state`, `./var/reports`
 * → `./var/state`). Tick claims, leases and tokens only work when every instance shares them, and the
 * reports' location is one every instance already shares.
 */
export function stateBeside(reports: string): string {
  const trimmed = reports.trim().replace(/\/+$/, '');
  if (/^gs:\/\/[^/]+$/.test(trimmed)) return `${trimmed}/state`;
  const slash = trimmed.lastIndexOf('/');
  const last = trimmed.slice(slash + 1);
  return `${trimmed.slice(0, slash + 1)}${last === 'state' ? 'scheduler-state' : 'state'}`;
}

/** The original design kept everything in one bucket named by `gcs_config.bucket_name`. */
function legacyBucket(raw: RawConfig, folder: string): string | undefined {
  const gcs = raw.gcs_config;
  if (gcs && typeof gcs === 'object' && typeof (gcs as { bucket_name?: unknown }).bucket_name === 'string') {
    return `gs://${(gcs as { bucket_name: string }).bucket_name}/scheduler/${folder}`;
  }
  return undefined;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
