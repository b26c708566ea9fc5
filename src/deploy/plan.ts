import { DEFAULT_ALERTS } from '../alerts/alerts';
import { ALERT_LOG_LABEL } from '../alerts/notify';
import type { Config } from '../config/types';
import { gcloudCommands, planQueues } from '../tasks/queues';
import { DEPLOY_RUNTIME, ENTRY_POINT, STATE_RETENTION_DAYS, reportBudgetSeconds } from './runtime';
import type { JobsPlan } from './scheduler-jobs';
import { callersLine, customAudienceStep, incomingAuthNotes, jobAudience } from './incoming-auth';
import type { DeploySettings } from './settings';
import type { DeployPlanText, Step } from './steps';
import { invokerTargets, secretsNamed, type InvokerTarget } from './targets';

export const ALERT_METRIC = 'scheduler-collector-failing';

/** Cloud Scheduler's retries: a tick's retry only runs if its first delivery never claimed the tick. */
export const JOB_RETRY = { attempts: 3, minBackoff: '30s', maxBackoff: '300s', maxDoublings: 2 } as const;

/** Everything the project needs, in an order where each step finds what it depends on. */
export function deployPlan(settings: DeploySettings, deployed: Config, jobs: JobsPlan): DeployPlanText {
  const { project, region, serviceAccount: sa, functionName: fn } = settings;
  const where = [`--project=${project}`];
  const member = `serviceAccount:${sa}`;
  const tasksMode = deployed.scheduler.mode === 'tasks';
  const secrets = secretsNamed(deployed, settings);
  const targets = invokerTargets(deployed, settings);
  const alerts = deployed.alerts ?? DEFAULT_ALERTS;
  const notes: string[] = [];
  const steps: Step[] = [];

  steps.push({
    kind: 'run',
    title: 'APIs',
    args: ['services', 'enable', ...apis(deployed, secrets.length > 0), ...where],
  });

  if (settings.ownServiceAccount) {
    steps.push({
      kind: 'ensure',
      title: `service account ${sa}`,
      describe: ['iam', 'service-accounts', 'describe', sa, ...where],
      create: [
        'iam',
        'service-accounts',
        'create',
        sa.split('@')[0]!,
        ...where,
        '--display-name=Collector scheduler',
      ],
      update: null,
    });
  } else {
    notes.push(`${sa} belongs to another project: deploy does not create it, only grants it roles here`);
  }

  for (const [bucket, rules] of lifecycleRules(settings)) {
    const file = `lifecycle-${bucket}.json`;
    steps.push(
      {
        kind: 'file',
        title: `lifecycle rules of gs://${bucket}`,
        name: file,
        content: JSON.stringify({ rule: rules }, null, 2) + '\n',
      },
      {
        kind: 'ensure',
        title: `bucket gs://${bucket}`,
        describe: ['storage', 'buckets', 'describe', `gs://${bucket}`, ...where],
        create: [
          'storage',
          'buckets',
          'create',
          `gs://${bucket}`,
          ...where,
          `--location=${region}`,
          '--uniform-bucket-level-access',
          '--public-access-prevention',
        ],
        update: null,
      },
      {
        kind: 'run',
        title: `lifecycle of gs://${bucket}`,
        args: [
          'storage',
          'buckets',
          'update',
          `gs://${bucket}`,
          ...where,
          `--lifecycle-file=\${DEPLOY_DIR}/${file}`,
        ],
      },
      {
        kind: 'run',
        title: `objects of gs://${bucket} for ${sa}`,
        args: [
          'storage',
          'buckets',
          'add-iam-policy-binding',
          `gs://${bucket}`,
          ...where,
          `--member=${member}`,
          '--role=roles/storage.objectUser',
        ],
      },
    );
  }

  for (const secret of secrets) {
    steps.push({
      kind: 'run',
      title: `secret ${secret.name}`,
      args: [
        'secrets',
        'add-iam-policy-binding',
        secret.name,
        `--project=${secret.project}`,
        `--member=${member}`,
        '--role=roles/secretmanager.secretAccessor',
      ],
    });
  }

  if (tasksMode) steps.push(...queueSteps(deployed, member));

  steps.push(
    { kind: 'run', title: `function ${fn} (${DEPLOY_RUNTIME}, gen2)`, args: functionDeployArgs(settings) },
    customAudienceStep(settings),
    {
      kind: 'capture',
      title: `URL of function ${fn}`,
      variable: 'FUNCTION_URL',
      args: [
        'functions',
        'describe',
        fn,
        `--region=${region}`,
        ...where,
        '--format=value(serviceConfig.uri)',
      ],
    },
    {
      kind: 'run',
      title: `Cloud Scheduler's OIDC identity may invoke ${fn}`,
      args: [
        'functions',
        'add-invoker-policy-binding',
        fn,
        `--region=${region}`,
        ...where,
        `--member=${member}`,
      ],
    },
  );
  steps.push(...invokerSteps(targets, notes));

  const audience = jobAudience(deployed, settings);
  for (const job of jobs.jobs) {
    const settingsArgs = [
      `--location=${region}`,
      ...where,
      `--schedule=${job.schedule}`,
      `--time-zone=${job.timeZone}`,
      '--uri=${FUNCTION_URL}',
      '--http-method=post',
      `--oidc-service-account-email=${sa}`,
      `--oidc-token-audience=${audience}`,
      `--attempt-deadline=${settings.attemptDeadlineSeconds}s`,
      `--max-retry-attempts=${JOB_RETRY.attempts}`,
      `--min-backoff=${JOB_RETRY.minBackoff}`,
      `--max-backoff=${JOB_RETRY.maxBackoff}`,
      `--max-doublings=${JOB_RETRY.maxDoublings}`,
      `--description=Ticks of ${job.collectors.join(', ')}`,
    ];
    steps.push({
      kind: 'ensure',
      title: `Cloud Scheduler job ${job.id} (${job.schedule}, ${job.timeZone})`,
      describe: ['scheduler', 'jobs', 'describe', job.id, `--location=${region}`, ...where],
      create: ['scheduler', 'jobs', 'create', 'http', job.id, ...settingsArgs],
      update: ['scheduler', 'jobs', 'update', 'http', job.id, ...settingsArgs],
    });
  }
  steps.push({
    kind: 'prune',
    title: `Cloud Scheduler jobs of ${fn} the config no longer needs`,
    list: ['scheduler', 'jobs', 'list', `--location=${region}`, ...where, '--format=value(name)'],
    prefix: `${fn}-tick-`,
    keep: jobs.jobs.map((j) => j.id),
    remove: ['scheduler', 'jobs', 'delete', '${JOB}', `--location=${region}`, ...where, '--quiet'],
  });

  notes.push(...incomingAuthNotes(deployed, settings));
  notes.push(...unmappedCredentials(deployed, settings));
  const legacyRuntime = deployed.deploy?.legacyRuntime;
  if (legacyRuntime && legacyRuntime !== DEPLOY_RUNTIME)
    notes.push(
      `cloud_functions.runtime ${legacyRuntime} is not used: this scheduler is Node.js code and runs on ${DEPLOY_RUNTIME}`,
    );
  if (alerts.enabled) steps.push(...alertSteps(settings, alerts.email, notes));
  else
    notes.push(
      'alerts are off (alerts.enabled or monitoring.enable_alerts): no log-based metric or alert policy',
    );

  return { header: header(settings, deployed, jobs), steps, notes };
}

/**
 * Credentials the config names by environment variable that the function will not have: values never
 * go through deploy (they would show in the console and in this output), Secret Manager does.
 */
function unmappedCredentials(config: Config, settings: DeploySettings): string[] {
  const provided = new Set([...Object.keys(settings.env), ...Object.keys(settings.secretEnv)]);
  const wanted = new Map<string, string[]>();
  const want = (name: string, who: string) => wanted.set(name, [...(wanted.get(name) ?? []), who]);
  for (const c of config.collectors)
    for (const [key, value] of Object.entries(c.options))
      if (key.endsWith('_env') && typeof value === 'string') want(value, c.name);
  if (config.scheduler.auth.type === 'bearer' && !config.scheduler.auth.secret)
    want(config.scheduler.auth.tokenEnv, 'scheduler.auth');
  for (const [what, ref] of [
    ['alerts.slack', config.alerts?.slack],
    ['alerts.webhook', config.alerts?.webhook],
  ] as const)
    if (ref && 'env' in ref) want(ref.env, what);
  return [...wanted]
    .filter(([name]) => !provided.has(name))
    .map(
      ([name, who]) =>
        `${who.join(', ')} read${who.length === 1 ? 's' : ''} $${name}, which the function will not have: map it from Secret Manager with deploy.secrets (${name}: <secret>:latest)`,
    );
}

function apis(config: Config, secrets: boolean): string[] {
  return [
    'cloudfunctions.googleapis.com',
    'run.googleapis.com',
    'cloudbuild.googleapis.com',
    'artifactregistry.googleapis.com',
    'cloudscheduler.googleapis.com',
    'storage.googleapis.com',
    'iam.googleapis.com',
    'logging.googleapis.com',
    'monitoring.googleapis.com',
    ...(secrets || config.scheduler.useSecretManager ? ['secretmanager.googleapis.com'] : []),
    ...(config.scheduler.mode === 'tasks' ? ['cloudtasks.googleapis.com'] : []),
  ];
}

export interface LifecycleRule {
  action: { type: 'Delete' };
  condition: { age: number; matchesPrefix: string[] };
}

/**
 * Per bucket: tick markers and run records deleted after 30 days, reports after the retention, and the
 * history index a month after that (a month's index object outlives its month's first reports).
 */
export function lifecycleRules(settings: DeploySettings): Map<string, LifecycleRule[]> {
  const byBucket = new Map<string, LifecycleRule[]>();
  const add = (bucket: string, age: number, prefixes: string[]) =>
    byBucket.set(bucket, [
      ...(byBucket.get(bucket) ?? []),
      { action: { type: 'Delete' }, condition: { age, matchesPrefix: prefixes } },
    ]);
  const under = (prefix: string, rest: string) => (prefix ? `${prefix}/${rest}` : rest);
  const { state, reports, raw } = settings.storage;
  add(state.bucket, STATE_RETENTION_DAYS, [under(state.prefix, 'ticks/'), under(state.prefix, 'runs/')]);
  // Reports are `YYYY/MM/DD/<id>.json`: the year's first digit keeps latest.json and the index out.
  add(reports.bucket, settings.reportsRetentionDays, [under(reports.prefix, '2')]);
  add(reports.bucket, settings.reportsRetentionDays + 31, [under(reports.prefix, 'index/')]);
  if (!byBucket.has(raw.bucket)) byBucket.set(raw.bucket, []);
  return byBucket;
}

function functionDeployArgs(s: DeploySettings): string[] {
  const env = Object.entries(s.env).map(([k, v]) => `${k}=${v}`);
  // gcloud splits --set-env-vars on commas unless the list names another delimiter (`^|^`).
  const envArg = env.some((e) => e.includes(',')) ? `^|^${env.join('|')}` : env.join(',');
  const secrets = Object.entries(s.secretEnv).map(([k, v]) => `${k}=${v}`);
  return [
    'functions',
    'deploy',
    s.functionName,
    '--gen2',
    `--runtime=${DEPLOY_RUNTIME}`,
    `--region=${s.region}`,
    `--project=${s.project}`,
    '--source=.',
    `--entry-point=${ENTRY_POINT}`,
    '--trigger-http',
    '--no-allow-unauthenticated',
    `--timeout=${s.timeoutSeconds}s`,
    `--memory=${s.memory}`,
    `--service-account=${s.serviceAccount}`,
    `--set-env-vars=${envArg}`,
    ...(secrets.length > 0 ? [`--set-secrets=${secrets.join(',')}`] : []),
    ...(s.maxInstances !== null ? [`--max-instances=${s.maxInstances}`] : []),
  ];
}

function queueSteps(config: Config, member: string): Step[] {
  const { project, location, serviceAccountEmail } = config.scheduler.tasks;
  if (!project || !location) return [];
  const steps: Step[] = [];
  for (const spec of planQueues(config)) {
    const cmd = gcloudCommands(spec, project, location);
    steps.push(
      {
        kind: 'ensure',
        title: `Cloud Tasks queue ${spec.id} (${spec.collectors.join(', ')})`,
        describe: cmd.describe,
        create: cmd.create,
        update: cmd.update,
      },
      {
        kind: 'run',
        title: `the scheduler may enqueue into ${spec.id}`,
        args: [
          'tasks',
          'queues',
          'add-iam-policy-binding',
          spec.id,
          `--location=${location}`,
          `--project=${project}`,
          `--member=${member}`,
          '--role=roles/cloudtasks.enqueuer',
        ],
      },
    );
  }
  if (serviceAccountEmail) {
    steps.push({
      kind: 'run',
      title: `the scheduler may have Cloud Tasks sign OIDC tokens as ${serviceAccountEmail}`,
      args: [
        'iam',
        'service-accounts',
        'add-iam-policy-binding',
        serviceAccountEmail,
        `--project=${project}`,
        `--member=${member}`,
        '--role=roles/iam.serviceAccountUser',
      ],
    });
  }
  return steps;
}

function invokerSteps(targets: InvokerTarget[], notes: string[]): Step[] {
  const steps: Step[] = [];
  for (const t of targets) {
    const member = `serviceAccount:${t.member}`;
    if (t.kind === 'function') {
      steps.push({
        kind: 'run',
        title: `${t.member} may invoke function ${t.name} (${t.collectors.join(', ')})`,
        args: [
          'functions',
          'add-invoker-policy-binding',
          t.name,
          `--region=${t.region}`,
          `--project=${t.project}`,
          `--member=${member}`,
        ],
      });
    } else if (t.kind === 'run') {
      steps.push({
        kind: 'run',
        title: `${t.member} may invoke Cloud Run service ${t.name} (${t.collectors.join(', ')})`,
        args: [
          'run',
          'services',
          'add-iam-policy-binding',
          t.name,
          `--region=${t.region}`,
          `--project=${t.project}`,
          `--member=${member}`,
          '--role=roles/run.invoker',
        ],
      });
      if (t.note) notes.push(t.note);
    } else {
      notes.push(
        `grant ${t.member} roles/run.invoker on the service behind ${t.url} (${t.collectors.join(', ')}): deploy cannot tell it from the URL`,
      );
    }
  }
  return steps;
}

function alertSteps(settings: DeploySettings, emails: readonly string[], notes: string[]): Step[] {
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
  const channels = emails.map((email, i) => {
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
  });
  if (emails.length === 0)
    notes.push(
      'no alert e-mail address (alerts.email, or the original monitoring.alert_email): the alert policy opens incidents but e-mails nobody',
    );
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
  steps.push({
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
  });
  return steps;
}

function header(s: DeploySettings, config: Config, jobs: JobsPlan): string[] {
  const budget = reportBudgetSeconds(config);
  const alerts = config.alerts ?? DEFAULT_ALERTS;
  return [
    `project ${s.project}, region ${s.region}, function ${s.functionName} on ${DEPLOY_RUNTIME} (gen2), service account ${s.serviceAccount}`,
    `timeout ${s.timeoutSeconds} s = deadline ${config.scheduler.deadlineSeconds} s + report budget ${budget} s${alerts.enabled ? ` + alerts ${alerts.timeoutSeconds} s` : ''}; Cloud Scheduler waits ${s.attemptDeadlineSeconds} s`,
    `storage: reports ${gs(s.storage.reports)}, raw ${gs(s.storage.raw)}, state ${gs(s.storage.state)}`,
    `${jobs.jobs.length} Cloud Scheduler job${jobs.jobs.length === 1 ? '' : 's'} (${config.timezone}): every minute a collector fires at is in exactly one job, so no tick runs twice;`,
    `  over a week they fire ${jobs.week.ticks} times, ${jobs.week.empty} of them with nothing due`,
    ...jobs.jobs.map((j) => `  ${j.id}: "${j.schedule}" for ${j.collectors.join(', ')}`),
    `a retried tick that already ran answers 409 and dispatches nothing (tick markers), so retries are safe`,
    callersLine(config, s),
  ];
}

function gs(l: { bucket: string; prefix: string }): string {
  return `gs://${l.bucket}${l.prefix ? `/${l.prefix}` : ''}`;
}
