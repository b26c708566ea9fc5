import type { AlertsConfig } from '../config/ops-sections';
import { excerpt } from '../util/read-body';
import { errorMessage } from '../errors';
import type { SecretSource } from '../secrets/types';
import { timeoutSignal, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { registerSecret } from '../util/secrets';

export const ALERT_EVENTS = ['collector_failing', 'collector_recovered'] as const;
export type AlertEventName = (typeof ALERT_EVENTS)[number];

/**
 * The label every alert log entry carries (`labels.scheduler_alert` in Cloud Logging): the deploy's
 * log-based metric and alert policy match on it, so renaming it breaks e-mail alerts.
 */
export const ALERT_LOG_LABEL = 'scheduler_alert';

/** What every channel is told; the generic webhook receives exactly this JSON. */
export interface AlertEvent {
  event: AlertEventName;
  collector: string;
  /** Failures in a row: the streak's length (for a recovery, the streak that ended). */
  consecutive_failures: number;
  threshold: number;
  /** Start of the streak's first failure. */
  since: string | null;
  execution_id: string;
  error: string | null;
  error_type: string | null;
  /** Where the execution's report is stored, when it was. */
  report: string | null;
}

export interface NotifyDeps {
  fetch: typeof fetch;
  clock: Clock;
  secrets: SecretSource;
  logger: Logger;
}

export interface ChannelResult {
  channel: 'log' | 'slack' | 'webhook';
  ok: boolean;
  error?: string;
}

/**
 * Tells every configured channel, at once, each bounded by `alerts.timeout_seconds`. The structured log
 * entry always goes out. A channel that fails is logged and reported back; it never throws.
 */
export async function notify(
  event: AlertEvent,
  alerts: AlertsConfig,
  deps: NotifyDeps,
): Promise<ChannelResult[]> {
  logAlert(deps.logger, event);
  const sends: Promise<ChannelResult>[] = [Promise.resolve({ channel: 'log', ok: true })];
  if (alerts.slack) {
    const ref = alerts.slack;
    sends.push(
      attempt('slack', deps, alerts, async () => {
        const url = await deps.secrets.get(ref);
        if (!url) throw new Error(`no Slack webhook URL in ${'env' in ref ? `$${ref.env}` : ref.secret}`);
        return { url, body: { text: slackText(event) } };
      }),
    );
  }
  if (alerts.webhook) {
    const hook = alerts.webhook;
    sends.push(
      attempt('webhook', deps, alerts, async () => {
        const url = 'url' in hook ? hook.url : await deps.secrets.get(hook);
        if (!url)
          throw new Error(
            `no webhook URL in ${'env' in hook ? `$${hook.env}` : (hook as { secret: string }).secret}`,
          );
        return { url, body: event };
      }),
    );
  }
  return Promise.all(sends);
}

export function logAlert(logger: Logger, event: AlertEvent): void {
  const fields = {
    alert: event.event,
    collector: event.collector,
    consecutiveFailures: event.consecutive_failures,
    threshold: event.threshold,
    since: event.since,
    executionId: event.execution_id,
    error: event.error,
    errorType: event.error_type,
    report: event.report,
    'logging.googleapis.com/labels': { [ALERT_LOG_LABEL]: event.event, collector: event.collector },
  };
  if (event.event === 'collector_failing') logger.error(headline(event), fields);
  else logger.info(headline(event), fields);
}

export function headline(event: AlertEvent): string {
  return event.event === 'collector_failing'
    ? `collector ${event.collector} failed ${event.consecutive_failures} times in a row (threshold ${event.threshold}) since ${event.since}`
    : `collector ${event.collector} recovered after ${event.consecutive_failures} failure${event.consecutive_failures === 1 ? '' : 's'} in a row`;
}

/** Slack's incoming-webhook message: a `text` field (https://api.slack.com/messaging/webhooks). */
function slackText(event: AlertEvent): string {
  const lines = [
    `${event.event === 'collector_failing' ? ':rotating_light:' : ':white_check_mark:'} ${headline(event)}`,
  ];
  if (event.event === 'collector_failing' && event.error)
    lines.push(`last error${event.error_type ? ` (${event.error_type})` : ''}: ${event.error}`);
  lines.push(`execution ${event.execution_id}${event.report ? ` — ${event.report}` : ''}`);
  return lines.join('\n');
}

/** Only scheme and host: a webhook's path and query are its credential. */
function originOf(url: string): string {
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return 'an unreadable URL';
  }
}

async function attempt(
  channel: 'slack' | 'webhook',
  deps: NotifyDeps,
  alerts: AlertsConfig,
  prepare: () => Promise<{ url: string; body: unknown }>,
): Promise<ChannelResult> {
  const timeout = timeoutSignal(
    deps.clock,
    alerts.timeoutSeconds * 1000,
    new Error(`no answer within ${alerts.timeoutSeconds} s (alerts.timeout_seconds)`),
  );
  let where = channel === 'slack' ? 'the Slack webhook' : 'the alert webhook';
  try {
    const { url, body } = await prepare();
    // A webhook URL is a credential (Slack's carries its token in the path): never logged as it is.
    registerSecret(url);
    where = `${where} at ${originOf(url)}`;
    const response = await deps.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: timeout.signal,
      redirect: 'error',
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${excerpt(text)}`);
    return { channel, ok: true };
  } catch (error) {
    const message = `alert not delivered to ${where}: ${errorMessage(timeout.signal.aborted ? timeout.signal.reason : error)}`;
    deps.logger.warn(message, { alertChannel: channel });
    return { channel, ok: false, error: message };
  } finally {
    timeout.clear();
  }
}
