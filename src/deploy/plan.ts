import { DEFAULT_ALERTS } from '../alerts/alerts';
import type { Config } from '../config/types';
import { DEPLOY_RUNTIME, ENTRY_POINT, reportBudgetSeconds } from './runtime';
import type { JobsPlan } from './scheduler-jobs';
import { callersLine, customAudienceStep, incomingAuthNotes, jobAudience } from './incoming-auth';
import type { DeploySettings } from './settings';
import { alertSteps } from './alert-steps';
import type { DeployPlanText, Step } from './steps';

export { ALERT_METRIC } from './alert-steps';
import {
  bucketSteps,
  invokerSteps,
  jobSteps,
  queueSteps,
  secretStep,
  serviceAccountSteps,
} from './resource-steps';
import { invokerTargets, secretsNamed } from './targets';

export { JOB_RETRY, lifecycleRules, type LifecycleRule } from './resource-steps';

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

  steps.push(...serviceAccountSteps(settings, notes));

  steps.push(...bucketSteps(settings, member));

  steps.push(...secrets.map((secret) => secretStep(secret, member)));

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

  steps.push(...jobSteps(settings, jobAudience(deployed, settings), jobs));

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
