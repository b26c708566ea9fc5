import type { Complain } from './normalise';
import type { RawConfig } from './schema';
import { DEFAULTS, type IgnoredSetting, type MonitoringConfig } from './types';

/**
 * The original layout's sections beyond `scheduler` and `collectors`: what maps onto this scheduler
 * (`cloud_functions.timeout_seconds`, `monitoring`, `gcs_config.bucket_name`, `project_id`, `region`) and
 * what is accepted but not used, listed for `run --dry-run`.
 */

/**
 * What the scheduler needs after its deadline to write the report: once `deadline_seconds` is up it
 * stops waiting for collectors, then stores the report, which takes a few Cloud Storage calls with
 * their own retries.
 */
export const REPORT_MARGIN_SECONDS = 30;

/** Consecutive failures before an alert when `monitoring` does not say. */
export const DEFAULT_FAILURE_THRESHOLD = 3;

const UNUSED_SECTIONS: Readonly<Record<string, string>> = {
  processing_config: 'processing happens downstream of the raw store; the scheduler only collects',
  logging_config: 'logs are structured JSON on stdout (Cloud Logging reads them); levels come from the CLI',
  logging: 'logs are structured JSON on stdout (Cloud Logging reads them); levels come from the CLI',
  features: 'feature flags of the original project; nothing here reads them',
  bigquery_config: 'nothing here loads BigQuery; raw files and manifests are in the raw store',
  notifications: 'alerts are configured under monitoring',
  secrets: 'credentials come from each collector’s *_env / *_secret options',
  environment: 'not used: the config file is per environment',
};

const CLOUD_FUNCTION_KEYS: Readonly<Record<string, string>> = {
  runtime: 'a deployment setting (the deploy command picks the runtime)',
  memory_mb: 'a deployment setting (the deploy command sets memory)',
  region: 'a deployment setting; Cloud Tasks use scheduler.tasks.location (or top-level region)',
};

/**
 * The deadline, fitted to `cloud_functions.timeout_seconds` when the file has one: the platform kills the
 * function at its timeout, so the deadline plus the report's margin must fit in it, or the report of a
 * slow execution is never written. Unset, the deadline is lowered to fit; set, a misfit is an error.
 */
export function fitDeadline(raw: RawConfig, deadlineSeconds: number | undefined, complain: Complain): number {
  const timeout = raw.cloud_functions?.timeout_seconds;
  const fallback = DEFAULTS.deadlineSeconds;
  if (timeout === undefined) return deadlineSeconds ?? fallback;
  const room = timeout - REPORT_MARGIN_SECONDS;
  if (deadlineSeconds === undefined) {
    if (room <= 0) {
      complain(
        'cloud_functions.timeout_seconds',
        `${timeout} s leaves no time to collect: the report alone needs up to ${REPORT_MARGIN_SECONDS} s after the deadline`,
      );
      return fallback;
    }
    return Math.min(fallback, room);
  }
  if (deadlineSeconds > room) {
    complain(
      'scheduler.deadline_seconds',
      `${deadlineSeconds} s does not fit in cloud_functions.timeout_seconds (${timeout} s): the function is killed at its timeout, and the report needs up to ${REPORT_MARGIN_SECONDS} s after the deadline; set deadline_seconds to at most ${Math.max(0, room)}`,
    );
  }
  return deadlineSeconds;
}

export function monitoringOf(raw: RawConfig): MonitoringConfig | null {
  const m = raw.monitoring;
  if (!m) return null;
  return {
    // Off unless asked for: an alert nobody configured a channel for helps no one.
    enableAlerts: m.enable_alerts ?? false,
    alertChannels: m.alert_channels ?? [],
    failureThreshold: m.failure_threshold ?? DEFAULT_FAILURE_THRESHOLD,
  };
}

/** The settings the file has that nothing here reads, with why. */
export function ignoredSettings(raw: RawConfig): IgnoredSetting[] {
  const ignored: IgnoredSetting[] = [];
  const record = raw as Record<string, unknown>;
  for (const [key, why] of Object.entries(UNUSED_SECTIONS)) {
    if (record[key] !== undefined) ignored.push({ path: key, why });
  }
  for (const [key, why] of Object.entries(CLOUD_FUNCTION_KEYS)) {
    if ((raw.cloud_functions as Record<string, unknown> | undefined)?.[key] !== undefined)
      ignored.push({ path: `cloud_functions.${key}`, why });
  }
  const extra = (section: string, value: unknown, known: readonly string[], why: string) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const key of Object.keys(value).filter((k) => !known.includes(k)))
        ignored.push({ path: `${section}.${key}`, why });
    }
  };
  extra(
    'cloud_functions',
    raw.cloud_functions,
    ['timeout_seconds', ...Object.keys(CLOUD_FUNCTION_KEYS)],
    'not a setting this scheduler knows',
  );
  extra(
    'monitoring',
    raw.monitoring,
    ['enable_alerts', 'alert_channels', 'failure_threshold'],
    'not a setting this scheduler knows',
  );
  extra(
    'gcs_config',
    raw.gcs_config,
    ['bucket_name'],
    'the raw store is laid out as <raw>/<collector>/... (storage.raw); only bucket_name is read',
  );
  return ignored;
}
