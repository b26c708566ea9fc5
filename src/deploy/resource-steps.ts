import type { Config } from '../config/types';
import { gcloudCommands, planQueues } from '../tasks/queues';
import { STATE_RETENTION_DAYS } from './runtime';
import type { JobsPlan } from './scheduler-jobs';
import type { DeploySettings } from './settings';
import type { Step } from './steps';
import type { InvokerTarget } from './targets';

/** Cloud Scheduler's retries: a tick's retry only runs if its first delivery never claimed the tick. */
export const JOB_RETRY = { attempts: 3, minBackoff: '30s', maxBackoff: '300s', maxDoublings: 2 } as const;

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

/*
 * The deploy plan's steps for one kind of resource each: the service account, buckets, secrets, queues,
 * collectors' invokers and the Cloud Scheduler jobs (plan.ts orders them).
 */

/** The function's service account, when it belongs to the deploy's project. */
export function serviceAccountSteps(settings: DeploySettings, notes: string[]): Step[] {
  const { project, serviceAccount: sa } = settings;
  const where = [`--project=${project}`];
  if (settings.ownServiceAccount) {
    return [
      {
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
      },
    ];
  }

  notes.push(`${sa} belongs to another project: deploy does not create it, only grants it roles here`);
  return [];
}

/** Each bucket, with its lifecycle rules and the service account's object access. */
export function bucketSteps(settings: DeploySettings, member: string): Step[] {
  const { project, region, serviceAccount: sa } = settings;
  const where = [`--project=${project}`];
  const steps: Step[] = [];
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
  return steps;
}

/** The service account may read a secret the config names. */
export function secretStep(secret: { name: string; project: string }, member: string): Step {
  return {
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
  };
}

/** One Cloud Scheduler job per schedule, and the pruning of jobs the config no longer needs. */
export function jobSteps(settings: DeploySettings, audience: string, jobs: JobsPlan): Step[] {
  const { project, region, serviceAccount: sa, functionName: fn } = settings;
  const where = [`--project=${project}`];
  const steps: Step[] = [];
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
  return steps;
}

export function queueSteps(config: Config, member: string): Step[] {
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

export function invokerSteps(targets: InvokerTarget[], notes: string[]): Step[] {
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
