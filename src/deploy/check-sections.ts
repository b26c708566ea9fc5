import { DEFAULT_ALERTS } from '../alerts/alerts';
import { planQueues } from '../tasks/queues';
import { FUNCTION_URL, functionService, jobAudience } from './incoming-auth';
import { ALERT_METRIC, JOB_RETRY, lifecycleRules, type LifecycleRule } from './plan';
import { DEPLOY_RUNTIME } from './runtime';
import { secretsNamed } from './targets';
import type { IamJson, ProjectCheck } from './check-context';

/* The sections of `scheduler deploy --check` (check.ts), one kind of resource each. */

/** APIs, the service account, buckets with their lifecycle and access, secrets. */
export async function checkBasics(c: ProjectCheck): Promise<void> {
  const { settings, deployed, run, where, diffs, json, binding } = c;
  const { serviceAccount: sa } = settings;
  const apis = await run(['services', 'list', '--enabled', where, '--format=value(config.name)']);
  const enabled = new Set(apis.stdout.split('\n').map((l) => l.trim()));
  const needed = [
    'cloudfunctions.googleapis.com',
    'run.googleapis.com',
    'cloudscheduler.googleapis.com',
    'storage.googleapis.com',
  ];
  if (deployed.scheduler.mode === 'tasks') needed.push('cloudtasks.googleapis.com');
  for (const api of needed) if (!enabled.has(api)) diffs.push(`API ${api} is not enabled`);

  if (
    settings.ownServiceAccount &&
    (await run(['iam', 'service-accounts', 'describe', sa, where])).code !== 0
  )
    diffs.push(`service account ${sa} does not exist`);

  for (const [bucket, rules] of lifecycleRules(settings)) {
    const b = (await json(['storage', 'buckets', 'describe', `gs://${bucket}`, where])) as BucketJson | null;
    if (!b) {
      diffs.push(`bucket gs://${bucket} does not exist`);
      continue;
    }
    const actual = b.lifecycle_config?.rule ?? b.lifecycle?.rule ?? [];
    for (const rule of rules)
      if (!actual.some((a) => sameRule(a, rule)))
        diffs.push(
          `gs://${bucket}: no lifecycle rule deleting ${rule.condition.matchesPrefix.join(', ')} after ${rule.condition.age} days`,
        );
    await binding(
      ['storage', 'buckets', 'get-iam-policy', `gs://${bucket}`, where],
      'roles/storage.objectUser',
      `gs://${bucket}`,
    );
  }
  for (const secret of secretsNamed(deployed, settings))
    await binding(
      ['secrets', 'get-iam-policy', secret.name, `--project=${secret.project}`],
      'roles/secretmanager.secretAccessor',
      `secret ${secret.name}`,
    );
}

/** The function: runtime, limits, service account, env, audience and who may invoke it. Answers its URL. */
export async function checkFunction(c: ProjectCheck): Promise<string | null> {
  const { settings, where, member, diffs, json, compare } = c;
  const { region, functionName: fn, serviceAccount: sa } = settings;
  const f = (await json(['functions', 'describe', fn, `--region=${region}`, where])) as FunctionJson | null;
  if (!f) {
    diffs.push(`function ${fn} does not exist in ${region}`);
    return null;
  }
  {
    const functionUrl = f.serviceConfig?.uri ?? f.url ?? null;
    const sc = f.serviceConfig ?? {};
    compare(`function ${fn}: runtime`, f.buildConfig?.runtime, DEPLOY_RUNTIME);
    compare(`function ${fn}: timeout`, sc.timeoutSeconds, settings.timeoutSeconds);
    compare(`function ${fn}: memory (MiB)`, mebibytes(sc.availableMemory), mebibytes(settings.memory));
    compare(`function ${fn}: service account`, sc.serviceAccountEmail, sa);
    const env = sc.environmentVariables ?? {};
    for (const [k, v] of Object.entries(settings.env)) compare(`function ${fn}: env ${k}`, env[k], v);
    for (const k of Object.keys(env))
      if (!(k in settings.env) && k !== 'LOG_EXECUTION_ID')
        diffs.push(`function ${fn}: env ${k} is set but the config does not set it`);
    const service = (await json([
      'run',
      'services',
      'describe',
      functionService(fn),
      `--region=${region}`,
      where,
    ])) as ServiceJson | null;
    if (!customAudiences(service).includes(settings.audience))
      diffs.push(
        `function ${fn}: Cloud Run does not accept ID tokens for ${settings.audience} (not a custom audience of service ${functionService(fn)}), the audience Cloud Scheduler's tokens carry`,
      );
    const policy = (await json([
      'run',
      'services',
      'get-iam-policy',
      functionService(fn),
      `--region=${region}`,
      where,
    ])) as IamJson | null;
    const invokers = policy?.bindings?.find((b) => b.role === 'roles/run.invoker')?.members ?? [];
    if (invokers.includes('allUsers') || invokers.includes('allAuthenticatedUsers'))
      diffs.push(
        `function ${fn}: anyone may invoke it (${invokers.filter((m) => m.startsWith('all')).join(', ')}); deploy sets --no-allow-unauthenticated`,
      );
    if (!invokers.includes(member))
      diffs.push(`function ${fn}: ${sa} may not invoke it (Cloud Scheduler's OIDC identity)`);
    return functionUrl;
  }
}

/** The Cloud Scheduler jobs, and those the config no longer needs. */
export async function checkJobs(c: ProjectCheck, functionUrl: string | null): Promise<void> {
  const { settings, deployed, jobs, run, where, diffs, json, compare } = c;
  const { region, functionName: fn, serviceAccount: sa } = settings;
  const listed = await run([
    'scheduler',
    'jobs',
    'list',
    `--location=${region}`,
    where,
    '--format=value(name)',
  ]);
  const existing = listed.stdout
    .split('\n')
    .map((l) => l.trim().split('/').pop()!)
    .filter(Boolean);
  for (const name of existing)
    if (name.startsWith(`${fn}-tick-`) && !jobs.jobs.some((j) => j.id === name))
      diffs.push(`Cloud Scheduler job ${name} is not needed by the config (deploy deletes it)`);
  const expectedAudience = jobAudience(deployed, settings);
  for (const job of jobs.jobs) {
    const j = (await json([
      'scheduler',
      'jobs',
      'describe',
      job.id,
      `--location=${region}`,
      where,
    ])) as JobJson | null;
    if (!j) {
      diffs.push(`Cloud Scheduler job ${job.id} ("${job.schedule}") does not exist`);
      continue;
    }
    const label = `Cloud Scheduler job ${job.id}`;
    compare(`${label}: schedule`, j.schedule, job.schedule);
    compare(`${label}: time zone`, j.timeZone, job.timeZone);
    if (functionUrl) compare(`${label}: URI`, j.httpTarget?.uri, functionUrl);
    const audience = expectedAudience === FUNCTION_URL ? functionUrl : expectedAudience;
    if (audience) compare(`${label}: OIDC audience`, j.httpTarget?.oidcToken?.audience, audience);
    compare(`${label}: OIDC service account`, j.httpTarget?.oidcToken?.serviceAccountEmail, sa);
    compare(`${label}: attempt deadline (s)`, seconds(j.attemptDeadline), settings.attemptDeadlineSeconds);
    compare(`${label}: retries`, j.retryConfig?.retryCount ?? 0, JOB_RETRY.attempts);
    if (j.state && j.state !== 'ENABLED') diffs.push(`${label} is ${j.state}`);
  }
}

/** The Cloud Tasks queues (tasks mode). */
export async function checkQueues(c: ProjectCheck): Promise<void> {
  const { deployed, diffs, json, compare } = c;
  if (deployed.scheduler.mode === 'tasks') {
    const { project: tp, location } = deployed.scheduler.tasks;
    for (const spec of planQueues(deployed)) {
      const q = (await json([
        'tasks',
        'queues',
        'describe',
        spec.id,
        `--location=${location}`,
        `--project=${tp}`,
      ])) as QueueJson | null;
      if (!q) {
        diffs.push(`Cloud Tasks queue ${spec.id} does not exist`);
        continue;
      }
      const label = `Cloud Tasks queue ${spec.id}`;
      compare(
        `${label}: max concurrent dispatches`,
        q.rateLimits?.maxConcurrentDispatches,
        spec.maxConcurrentDispatches,
      );
      compare(
        `${label}: max dispatches per second`,
        q.rateLimits?.maxDispatchesPerSecond,
        spec.maxDispatchesPerSecond,
      );
      compare(`${label}: max attempts`, q.retryConfig?.maxAttempts, spec.maxAttempts);
      compare(`${label}: min backoff (s)`, seconds(q.retryConfig?.minBackoff), spec.minBackoffSeconds);
      compare(`${label}: max backoff (s)`, seconds(q.retryConfig?.maxBackoff), spec.maxBackoffSeconds);
    }
  }
}

/** The log-based metric and the alert policy. */
export async function checkAlerts(c: ProjectCheck): Promise<void> {
  const { deployed, where, diffs, json } = c;
  const { functionName: fn } = c.settings;
  if ((deployed.alerts ?? DEFAULT_ALERTS).enabled) {
    const metric = (await json(['logging', 'metrics', 'describe', ALERT_METRIC, where])) as {
      filter?: string;
    } | null;
    if (!metric) diffs.push(`log-based metric ${ALERT_METRIC} does not exist`);
    const policies = (await json([
      'alpha',
      'monitoring',
      'policies',
      'list',
      where,
      `--filter=displayName="Collector failing (${fn})"`,
    ])) as { enabled?: boolean }[] | null;
    if (!policies || policies.length === 0)
      diffs.push(`alert policy "Collector failing (${fn})" does not exist`);
    else if (policies[0]!.enabled === false)
      diffs.push(`alert policy "Collector failing (${fn})" is disabled`);
  }
}

interface BucketJson {
  lifecycle_config?: { rule?: LifecycleRule[] };
  lifecycle?: { rule?: LifecycleRule[] };
}
interface FunctionJson {
  url?: string;
  buildConfig?: { runtime?: string };
  serviceConfig?: {
    uri?: string;
    timeoutSeconds?: number;
    availableMemory?: string;
    serviceAccountEmail?: string;
    environmentVariables?: Record<string, string>;
  };
}
interface JobJson {
  schedule?: string;
  timeZone?: string;
  state?: string;
  attemptDeadline?: string;
  httpTarget?: { uri?: string; oidcToken?: { serviceAccountEmail?: string; audience?: string } };
  retryConfig?: { retryCount?: number };
}
interface QueueJson {
  rateLimits?: { maxDispatchesPerSecond?: number; maxConcurrentDispatches?: number };
  retryConfig?: { maxAttempts?: number; minBackoff?: string; maxBackoff?: string };
}
/**
 * A Cloud Run service as `gcloud run services describe --format=json` prints it: the Knative-style v1
 * resource, whose custom audiences are a JSON list in an annotation (as quoted in
 * github.com/goblet/goblet/issues/421); the v2 resource's `customAudiences` is read too.
 */
interface ServiceJson {
  metadata?: { annotations?: Record<string, string> };
  customAudiences?: string[];
}

function customAudiences(service: ServiceJson | null): string[] {
  if (Array.isArray(service?.customAudiences)) return service.customAudiences;
  const annotation = service?.metadata?.annotations?.['run.googleapis.com/custom-audiences'];
  if (!annotation) return [];
  try {
    const list = JSON.parse(annotation) as unknown;
    return Array.isArray(list) ? list.filter((a): a is string => typeof a === 'string') : [];
  } catch {
    return [];
  }
}

function sameRule(a: LifecycleRule, b: LifecycleRule): boolean {
  const prefixes = (r: LifecycleRule) => [...(r.condition?.matchesPrefix ?? [])].sort().join('|');
  return (
    a.action?.type === b.action.type && a.condition?.age === b.condition.age && prefixes(a) === prefixes(b)
  );
}

/** A protobuf Duration as JSON (`"570s"`, `"0.100s"`) in seconds. */
function seconds(duration: string | undefined): number | undefined {
  if (typeof duration !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(duration);
  return m ? Number(m[1]) : undefined;
}

/** Memory as Cloud Functions v2 reports it (`512Mi`, `512M`, `1Gi`, `1G`), in MiB, approximately for M/G. */
function mebibytes(memory: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(Mi|M|MB|Gi|G|GB)$/.exec(memory ?? '');
  if (!m) return undefined;
  const n = Number(m[1]);
  return Math.round(m[2]!.startsWith('G') ? n * 1024 : n);
}
