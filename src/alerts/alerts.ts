import type { AlertsConfig } from '../config/ops-sections';
import { ALERT_DEFAULTS } from '../config/ops-sections';
import { errorMessage } from '../errors';
import { collectorOfKey, type CollectorReport, type ExecutionReport } from '../report/report';
import type { SaveResult } from '../report/report-store';
import type { Services } from '../services';
import type { Logger } from '../util/log';
import { notify, type AlertEvent, type ChannelResult } from './notify';
import { recordRuns, type Transition } from './streaks';

/** With no `alerts` (nor `monitoring`) section: threshold 3, the log entry only. */
export const DEFAULT_ALERTS: AlertsConfig = {
  enabled: true,
  failureThreshold: ALERT_DEFAULTS.failureThreshold,
  slack: null,
  webhook: null,
  email: [],
  timeoutSeconds: ALERT_DEFAULTS.timeoutSeconds,
};

/**
 * After an execution's report is saved: counts each collector's finished run (success or failure;
 * skips and runs still queued count for nothing) and notifies once when a streak of failures reaches
 * `failure_threshold`, and once when the collector next succeeds. Never throws and never changes the
 * execution's outcome: whatever goes wrong here is logged.
 */
export async function afterExecution(
  services: Pick<Services, 'config' | 'stores' | 'fetch' | 'clock' | 'secrets'>,
  report: ExecutionReport,
  saved: SaveResult,
  log: Logger,
): Promise<ChannelResult[]> {
  const alerts = services.config.alerts ?? DEFAULT_ALERTS;
  if (!alerts.enabled) return [];
  const results: ChannelResult[] = [];
  // A collector with several runs in one execution (catch-up, backfill) has entries keyed
  // `name@<scheduled time>`, oldest first: its latest finished run is the one counted.
  const latest = new Map<string, CollectorReport>();
  for (const [key, c] of Object.entries(report.collectors)) {
    if (c.status !== 'success' && c.status !== 'failed') continue;
    latest.set(collectorOfKey(key), c);
  }
  if (latest.size === 0) return results;
  let transitions: Map<string, NonNullable<Transition>>;
  try {
    transitions = await recordRuns(
      services.stores.state,
      [...latest].map(([collector, c]) => ({
        collector,
        failed: c.status === 'failed',
        executionId: report.execution_id,
        startTime: report.start_time,
        error: c.error,
        errorType: c.error_type,
      })),
      alerts.failureThreshold,
    );
  } catch (error) {
    log.warn(`failure counts not updated: ${errorMessage(error)}`, {
      collectors: latest.size,
    });
    return results;
  }
  for (const [collector, c] of latest) {
    const transition = transitions.get(collector);
    if (!transition) continue;
    const event: AlertEvent = {
      event: transition.kind === 'failing' ? 'collector_failing' : 'collector_recovered',
      collector,
      consecutive_failures:
        transition.kind === 'failing' ? transition.streak.consecutiveFailures : transition.failures,
      threshold: alerts.failureThreshold,
      since: transition.kind === 'failing' ? transition.streak.since : null,
      execution_id: report.execution_id,
      error: c.error,
      error_type: c.error_type,
      report: saved.location,
    };
    results.push(...(await notify(event, alerts, { ...services, logger: log })));
  }
  return results;
}
