import type { Config } from '../config/types';
import { DEFAULT_ALERTS } from '../alerts/alerts';

/**
 * The Cloud Run functions runtime the function is deployed on. nodejs20 was decommissioned on
 * 2026-10-30 (no function can be created or updated on it since); nodejs22 is deprecated on 2027-04-30;
 * nodejs24 is supported until 2028-04-30 (source: the Cloud Run functions runtime support schedule).
 * `.ci/run` runs the test suite on this Node as well as on the machine's.
 */
export const DEPLOY_RUNTIME = 'nodejs24';
export const DEPLOY_NODE_MAJOR = 24;

/** The function's entry point (src/index.ts registers it with functions-framework). */
export const ENTRY_POINT = 'scheduler';

/** Time after the deadline for writing the report (`scheduler.report_budget_seconds` when set). */
export const DEFAULT_REPORT_BUDGET_SECONDS = 30;
/** A gen2 HTTP function may run at most 60 minutes. */
export const MAX_FUNCTION_TIMEOUT_SECONDS = 3600;
/** Cloud Scheduler's attempt deadline for HTTP targets: 15 s to 30 min. */
export const MAX_ATTEMPT_DEADLINE_SECONDS = 1800;
/** Cloud Scheduler gives up on an attempt this long after the function's own timeout. */
export const ATTEMPT_DEADLINE_MARGIN_SECONDS = 30;

export const DEFAULT_MEMORY = '512Mi';
/** Tick markers and run records are only needed for a while (duplicate detection, Tasks status). */
export const STATE_RETENTION_DAYS = 30;
/** Reports are kept this long unless `deploy.reports_retention_days` says otherwise. */
export const DEFAULT_REPORTS_RETENTION_DAYS = 400;

export function reportBudgetSeconds(config: Config): number {
  // `scheduler.report_budget_seconds` (added with the deadline work) when this config has it.
  const budget = (config.scheduler as { reportBudgetSeconds?: unknown }).reportBudgetSeconds;
  return typeof budget === 'number' && budget > 0 ? budget : DEFAULT_REPORT_BUDGET_SECONDS;
}

/**
 * The function's timeout: the execution deadline, the report's budget after it, and the alerts' (sent
 * after the report is saved), never below `deploy.timeout_seconds` (or the original
 * `cloud_functions.timeout_seconds`). A shorter timeout would cut an execution before its report.
 */
export function functionTimeoutSeconds(config: Config): number {
  const alerts = config.alerts ?? DEFAULT_ALERTS;
  const needed = Math.ceil(
    config.scheduler.deadlineSeconds +
      reportBudgetSeconds(config) +
      (alerts.enabled ? alerts.timeoutSeconds : 0),
  );
  return Math.max(needed, config.deploy?.timeoutSeconds ?? 0);
}

/** Cloud Scheduler waits for the whole execution, so a slow tick is not retried while it runs. */
export function attemptDeadlineSeconds(timeoutSeconds: number): number {
  return Math.min(MAX_ATTEMPT_DEADLINE_SECONDS, timeoutSeconds + ATTEMPT_DEADLINE_MARGIN_SECONDS);
}
