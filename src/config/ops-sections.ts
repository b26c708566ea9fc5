import * as v from 'valibot';
import type { CredentialRef } from '../secrets/types';
import type { Complain } from './errors';
import { envName, secretVersion } from './name-schemas';

/**
 * The operations sections of the config: `alerts` (who hears about a collector that keeps failing)
 * and `deploy` (what `scheduler deploy` sets up). Both are optional; the original design's
 * `monitoring` and `cloud_functions` sections map onto them when they are absent.
 */

const httpUrl = v.pipe(
  v.string(),
  v.check((s) => /^https?:\/\/[^\s/]+/.test(s) && URL.canParse(s), 'is not an http(s) URL'),
);

export const alertsSchema = v.strictObject({
  enabled: v.optional(v.boolean()),
  failure_threshold: v.optional(
    v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1), v.maxValue(1000)),
  ),
  /** A Slack incoming webhook; its URL is a credential, so it comes from env or Secret Manager. */
  slack: v.optional(
    v.strictObject({ webhook_env: v.optional(envName), webhook_secret: v.optional(secretVersion) }),
  ),
  /** A generic JSON webhook: `url`, or a URL held in env or Secret Manager. */
  webhook: v.optional(
    v.strictObject({
      url: v.optional(httpUrl),
      url_env: v.optional(envName),
      url_secret: v.optional(secretVersion),
    }),
  ),
  /** Addresses `scheduler deploy` makes Cloud Monitoring email channels for. */
  email: v.optional(v.array(v.pipe(v.string(), v.email('is not an e-mail address')))),
  timeout_seconds: v.optional(v.pipe(v.number(), v.minValue(1), v.maxValue(60))),
});

export const deploySchema = v.strictObject({
  project: v.optional(v.string()),
  region: v.optional(v.string()),
  function: v.optional(
    v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]{0,61}[a-z0-9]$/, 'is not a valid function name')),
  ),
  service_account: v.optional(v.pipe(v.string(), v.email('is not a service account e-mail'))),
  bucket: v.optional(
    v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/, 'is not a valid bucket name')),
  ),
  memory: v.optional(v.pipe(v.string(), v.regex(/^\d+(Mi|Gi)$/, 'must look like 512Mi or 1Gi'))),
  max_instances: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000))),
  /** A floor for the function's timeout; it is never below deadline + report budget + alerts. */
  timeout_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3600))),
  reports_retention_days: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3650))),
  /** Extra environment variables for the function (names and plain values; never secrets). */
  env: v.optional(v.record(envName, v.string())),
  /** Environment variables the function gets from Secret Manager: `NAME: secret:version`. */
  secrets: v.optional(
    v.record(
      envName,
      v.pipe(
        v.string(),
        v.regex(
          /^(projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+|[A-Za-z0-9_-]+:[A-Za-z0-9_-]+)$/,
          'must be secret:version (e.g. sirene-api-key:latest) or projects/P/secrets/S/versions/V',
        ),
      ),
    ),
  ),
});

export interface AlertsConfig {
  enabled: boolean;
  /** Consecutive failures of a collector before one notification (and one on recovery). */
  failureThreshold: number;
  slack: CredentialRef | null;
  webhook: { url: string } | CredentialRef | null;
  email: readonly string[];
  timeoutSeconds: number;
}

export interface DeployConfig {
  project?: string;
  region?: string;
  function?: string;
  serviceAccount?: string;
  bucket?: string;
  memory?: string;
  maxInstances?: number;
  timeoutSeconds?: number;
  reportsRetentionDays?: number;
  /** The original `cloud_functions.runtime`, reported as ignored (the runtime is the code's, nodejs24). */
  legacyRuntime?: string;
  env: Readonly<Record<string, string>>;
  secrets: Readonly<Record<string, string>>;
}

export const ALERT_DEFAULTS = {
  failureThreshold: 3,
  /** The environment variable the original design's `alert_channels: [slack]` reads the webhook from. */
  slackEnv: 'SLACK_WEBHOOK_URL',
  timeoutSeconds: 10,
} as const;

type RawAlerts = v.InferOutput<typeof alertsSchema>;
type RawDeploy = v.InferOutput<typeof deploySchema>;

/** `alerts`, else the original `monitoring` section (read defensively: its shape was never fixed). */
export function normaliseAlerts(
  alerts: RawAlerts | undefined,
  monitoring: unknown,
  complain: Complain,
): AlertsConfig {
  if (alerts) {
    const slack = alerts.slack;
    if (slack && !slack.webhook_env === !slack.webhook_secret)
      complain('alerts.slack', 'needs exactly one of webhook_env or webhook_secret');
    const hook = alerts.webhook;
    if (hook && [hook.url, hook.url_env, hook.url_secret].filter(Boolean).length !== 1)
      complain('alerts.webhook', 'needs exactly one of url, url_env or url_secret');
    return {
      enabled: alerts.enabled ?? true,
      failureThreshold: alerts.failure_threshold ?? ALERT_DEFAULTS.failureThreshold,
      slack: slack?.webhook_secret
        ? { secret: slack.webhook_secret }
        : slack?.webhook_env
          ? { env: slack.webhook_env }
          : null,
      webhook: hook?.url
        ? { url: hook.url }
        : hook?.url_secret
          ? { secret: hook.url_secret }
          : hook?.url_env
            ? { env: hook.url_env }
            : null,
      email: alerts.email ?? [],
      timeoutSeconds: alerts.timeout_seconds ?? ALERT_DEFAULTS.timeoutSeconds,
    };
  }
  const m = isRecord(monitoring) ? monitoring : {};
  const channels = Array.isArray(m['alert_channels']) ? m['alert_channels'].map(String) : [];
  const threshold = m['failure_threshold'];
  const emails = [m['alert_email'], m['email'], m['alert_emails']]
    .flat()
    .filter((e): e is string => typeof e === 'string' && e.includes('@'));
  return {
    enabled: typeof m['enable_alerts'] === 'boolean' ? m['enable_alerts'] : true,
    failureThreshold:
      typeof threshold === 'number' && Number.isInteger(threshold) && threshold >= 1
        ? threshold
        : ALERT_DEFAULTS.failureThreshold,
    slack: channels.includes('slack') ? { env: ALERT_DEFAULTS.slackEnv } : null,
    webhook: null,
    email: channels.includes('email') || !('alert_channels' in m) ? emails : [],
    timeoutSeconds: ALERT_DEFAULTS.timeoutSeconds,
  };
}

/** `deploy`, with the original `cloud_functions` section's memory and region where it is absent. */
export function normaliseDeploy(deploy: RawDeploy | undefined, cloudFunctions: unknown): DeployConfig {
  const cf = isRecord(cloudFunctions) ? cloudFunctions : {};
  const memoryMb = cf['memory_mb'];
  const legacyMemory =
    typeof memoryMb === 'number' && Number.isInteger(memoryMb) && memoryMb > 0 ? `${memoryMb}Mi` : undefined;
  const legacyRegion = typeof cf['region'] === 'string' ? cf['region'] : undefined;
  const legacyTimeout =
    typeof cf['timeout_seconds'] === 'number' && cf['timeout_seconds'] > 0
      ? cf['timeout_seconds']
      : undefined;
  const d = deploy ?? {};
  const out: DeployConfig = { env: d.env ?? {}, secrets: d.secrets ?? {} };
  const set = <K extends keyof DeployConfig>(key: K, value: DeployConfig[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set('project', d.project);
  set('region', d.region ?? legacyRegion);
  set('function', d.function);
  set('serviceAccount', d.service_account);
  set('bucket', d.bucket);
  set('memory', d.memory ?? legacyMemory);
  set('maxInstances', d.max_instances);
  set('timeoutSeconds', d.timeout_seconds ?? legacyTimeout);
  set('legacyRuntime', typeof cf['runtime'] === 'string' ? cf['runtime'] : undefined);
  set('reportsRetentionDays', d.reports_retention_days);
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
