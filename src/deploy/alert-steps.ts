import { ALERT_LOG_LABEL } from '../alerts/notify';
import type { DeploySettings } from './settings';
import type { Step } from './steps';

export const ALERT_METRIC = 'scheduler-collector-failing';

/**
 * Alerts: a log-based metric of the collectors that reached their failure threshold, an e-mail channel
 * per address, and one alert policy on the failing/recovered log lines.
 */
export function alertSteps(settings: DeploySettings, emails: readonly string[], notes: string[]): Step[] {
  const where = `--project=${settings.project}`;
  const failing = `resource.type="cloud_run_revision" AND resource.labels.service_name="${settings.functionName}" AND labels.${ALERT_LOG_LABEL}="collector_failing"`;
  const any = `resource.type="cloud_run_revision" AND resource.labels.service_name="${settings.functionName}" AND labels.${ALERT_LOG_LABEL}=("collector_failing" OR "collector_recovered")`;
  const steps: Step[] = [];
  const metricArgs = [
    where,
    `--description=Collectors of ${settings.functionName} that reached their failure threshold`,
    `--log-filter=${failing}`,
  ];
  steps.push({
    kind: 'ensure',
    title: `log-based metric ${ALERT_METRIC}`,
    describe: ['logging', 'metrics', 'describe', ALERT_METRIC, where],
    create: ['logging', 'metrics', 'create', ALERT_METRIC, ...metricArgs],
    update: ['logging', 'metrics', 'update', ALERT_METRIC, ...metricArgs],
  });
  const channels = emails.map((email, i) => channelStep(where, email, i, steps));
  if (emails.length === 0)
    notes.push(
      'no alert e-mail address (alerts.email, or the original monitoring.alert_email): the alert policy opens incidents but e-mails nobody',
    );
  steps.push(policyStep(settings, where, any, channels));
  return steps;
}

/** The e-mail channel of one address, found or created; answers the variable holding its name. */
function channelStep(where: string, email: string, i: number, steps: Step[]): string {
  const variable = `CHANNEL_${i + 1}`;
  steps.push({
    kind: 'find-or-create',
    title: `e-mail notification channel for ${email}`,
    variable,
    find: [
      'beta',
      'monitoring',
      'channels',
      'list',
      where,
      `--filter=type="email" AND labels.email_address="${email}"`,
      '--format=value(name)',
      '--limit=1',
    ],
    create: [
      'beta',
      'monitoring',
      'channels',
      'create',
      where,
      '--type=email',
      `--display-name=Collector scheduler alerts (${email})`,
      `--channel-labels=email_address=${email}`,
      '--format=value(name)',
    ],
  });
  return `\${${variable}}`;
}

/** The alert policy, created or updated in place (found by its display name). */
function policyStep(settings: DeploySettings, where: string, any: string, channels: string[]): Step {
  const displayName = `Collector failing (${settings.functionName})`;
  const policy = JSON.stringify({
    displayName,
    combiner: 'OR',
    conditions: [
      {
        displayName: 'a collector failed failure_threshold times in a row, or recovered',
        conditionMatchedLog: { filter: any, labelExtractors: { collector: 'EXTRACT(labels.collector)' } },
      },
    ],
    // Log-match conditions require a notification rate limit (one e-mail per 5 minutes at most).
    alertStrategy: { notificationRateLimit: { period: '300s' }, autoClose: '1800s' },
    documentation: {
      mimeType: 'text/markdown',
      content: `A collector of the scheduler function \`${settings.functionName}\` failed failure_threshold times in a row (or recovered). See \`scheduler history --collector NAME\` or the report page (GET /ui).`,
    },
    enabled: true,
  });
  const channelList = channels.join(',');
  return {
    kind: 'upsert',
    title: `alert policy "${displayName}"`,
    variable: 'POLICY',
    find: [
      'alpha',
      'monitoring',
      'policies',
      'list',
      where,
      `--filter=displayName="${displayName}"`,
      '--format=value(name)',
      '--limit=1',
    ],
    create: [
      'alpha',
      'monitoring',
      'policies',
      'create',
      where,
      `--policy=${policy}`,
      ...(channelList ? [`--notification-channels=${channelList}`] : []),
    ],
    update: [
      'alpha',
      'monitoring',
      'policies',
      'update',
      '${POLICY}',
      where,
      `--policy=${policy}`,
      ...(channelList ? [`--set-notification-channels=${channelList}`] : []),
    ],
  };
}
