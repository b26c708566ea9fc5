import type { Complain } from './errors';
import { ALERT_DEFAULTS } from './ops-sections';
import type { RawConfig } from './schema';
import { DEFAULTS, type IgnoredSetting, type MonitoringConfig } from './types';

/**
 * The original layout's sections beyond `scheduler` and `collectors`: what maps onto this scheduler
 * (`cloud_functions.timeout_seconds` bounds the deadline; `monitoring` and the rest of
 * `cloud_functions` feed `alerts` and `deploy`, see ops-sections.ts; `gcs_config.bucket_name`,
 * `project_id`, `region`) and what is accepted but not used, listed for `run --dry-run`. The original
 * file's shape was never fixed, so these sections are read defensively, never rejected.
 */

const UNUSED_SECTIONS: Readonly<Record<string, string>> = {
  processing_config: 'processing happens downstream of the raw store; the scheduler only collects',
  logging_config: 'logs are structured JSON on stdout (Cloud Logging reads them); levels come from the CLI',
  logging: 'logs are structured JSON on stdout (Cloud Logging reads them); levels come from the CLI',
  features: 'feature flags of the original project; nothing here reads them',
  bigquery_config: 'nothing here loads BigQuery; raw files and manifests are in the raw store',
  notifications: 'alerts are configured under alerts (or the original monitoring)',
  secrets: 'credentials come from each collector’s *_env / *_secret options',
  environment: 'not used: the config file is per environment',
};

/** What of `cloud_functions` and `monitoring` something reads (the deadline, `deploy`, `alerts`). */
const USED_KEYS: Readonly<Record<string, readonly string[]>> = {
  cloud_functions: ['timeout_seconds', 'memory_mb', 'region'],
  monitoring: [
    'enable_alerts',
    'alert_channels',
    'failure_threshold',
    'alert_email',
    'email',
    'alert_emails',
  ],
  gcs_config: ['bucket_name'],
};

const UNUSED_KEY_WHY: Readonly<Record<string, string>> = {
  'cloud_functions.runtime': 'the runtime is the code’s (Node.js), whatever the original deployed',
  gcs_config: 'the raw store is laid out as <raw>/<collector>/... (storage.raw); only bucket_name is read',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `cloud_functions.timeout_seconds` when it is a positive number. */
function functionTimeout(raw: RawConfig): number | undefined {
  const t = isRecord(raw.cloud_functions) ? raw.cloud_functions['timeout_seconds'] : undefined;
  return typeof t === 'number' && t > 0 ? t : undefined;
}

/**
 * The deadline, fitted to `cloud_functions.timeout_seconds` when the file has one: the platform kills
 * the function at its timeout, and once the deadline is up the scheduler still needs its report budget
 * to write the report, so both must fit, or the report of a slow execution is never written. Unset, the
 * deadline is lowered to fit; set, a misfit is an error naming both keys.
 */
export function fitDeadline(
  raw: RawConfig,
  deadlineSeconds: number | undefined,
  reportBudgetSeconds: number,
  complain: Complain,
): number {
  const timeout = functionTimeout(raw);
  const fallback = DEFAULTS.deadlineSeconds;
  if (timeout === undefined) return deadlineSeconds ?? fallback;
  const room = timeout - reportBudgetSeconds;
  if (deadlineSeconds === undefined) {
    if (room <= 0) {
      complain(
        'cloud_functions.timeout_seconds',
        `${timeout} s leaves no time to collect: the report alone may take ${reportBudgetSeconds} s (scheduler.report_budget_seconds) after the deadline`,
      );
      return fallback;
    }
    return Math.min(fallback, room);
  }
  if (deadlineSeconds > room) {
    complain(
      'scheduler.deadline_seconds',
      `${deadlineSeconds} s does not fit in cloud_functions.timeout_seconds (${timeout} s): the function is killed at its timeout, and the report may take ${reportBudgetSeconds} s (scheduler.report_budget_seconds) after the deadline; set deadline_seconds to at most ${Math.max(0, room)}`,
    );
  }
  return deadlineSeconds;
}

/**
 * The original `monitoring`, as the alerting code reads it (ops-sections.ts `normaliseAlerts`): on
 * unless `enable_alerts: false`, the threshold when it is a whole number.
 */
export function monitoringOf(raw: RawConfig): MonitoringConfig | null {
  if (!isRecord(raw.monitoring)) return null;
  const m = raw.monitoring;
  const threshold = m['failure_threshold'];
  const channels = Array.isArray(m['alert_channels']) ? m['alert_channels'] : [];
  return {
    enableAlerts: typeof m['enable_alerts'] === 'boolean' ? m['enable_alerts'] : true,
    alertChannels: channels.filter(
      (c): c is string | Record<string, unknown> => typeof c === 'string' || isRecord(c),
    ),
    failureThreshold:
      typeof threshold === 'number' && Number.isInteger(threshold) && threshold >= 1
        ? threshold
        : ALERT_DEFAULTS.failureThreshold,
  };
}

/** The settings the file has that nothing here reads, with why. */
export function ignoredSettings(raw: RawConfig): IgnoredSetting[] {
  const ignored: IgnoredSetting[] = [];
  const record = raw as Record<string, unknown>;
  for (const [key, why] of Object.entries(UNUSED_SECTIONS)) {
    if (record[key] !== undefined) ignored.push({ path: key, why });
  }
  for (const [section, used] of Object.entries(USED_KEYS)) {
    const value = record[section];
    if (!isRecord(value)) continue;
    for (const key of Object.keys(value).filter((k) => !used.includes(k))) {
      const path = `${section}.${key}`;
      ignored.push({
        path,
        why: UNUSED_KEY_WHY[path] ?? UNUSED_KEY_WHY[section] ?? 'not a setting this scheduler knows',
      });
    }
  }
  return ignored;
}
