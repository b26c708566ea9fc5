import type { Config } from '../config/types';
import { ConfigError } from '../config/errors';
import { parseLocation } from '../store/location';
import {
  attemptDeadlineSeconds,
  DEFAULT_MEMORY,
  DEFAULT_REPORTS_RETENTION_DAYS,
  functionTimeoutSeconds,
  MAX_FUNCTION_TIMEOUT_SECONDS,
} from './runtime';

/** Everything `scheduler deploy` derives from the config before it writes a command. */
export interface DeploySettings {
  project: string;
  region: string;
  functionName: string;
  /** The function's identity: storage, secrets, task creation, ID tokens, and Cloud Scheduler's OIDC. */
  serviceAccount: string;
  /** Whether the account lives in this project (so deploy creates it) or is someone else's. */
  ownServiceAccount: boolean;
  /**
   * The audience Cloud Scheduler's tokens carry, known before the function exists:
   * `https://REGION-PROJECT.cloudfunctions.net/FUNCTION`, made a custom audience of the function's
   * Cloud Run service (incoming-auth.ts).
   */
  audience: string;
  memory: string;
  timeoutSeconds: number;
  attemptDeadlineSeconds: number;
  maxInstances: number | null;
  reportsRetentionDays: number;
  /** The function's environment, sorted by name. */
  env: Record<string, string>;
  /** Environment variables filled from Secret Manager (`--set-secrets`), sorted by name. */
  secretEnv: Record<string, string>;
  /** Where each store lives once deployed. */
  storage: Record<'reports' | 'raw' | 'state', { bucket: string; prefix: string }>;
}

export interface DeployInputs {
  /** The config as the CLI loaded it (its environment). */
  config: Config;
  /** The config file's text, to see which `${VAR}`s it reads. */
  configText: string;
  /** The config file's path inside the uploaded source (SCHEDULER_CONFIG on the function). */
  configFile: string;
  /** Parses the same file with another environment: the function's. */
  reload: (env: Record<string, string>) => Config;
}

/** Variables the default config reads, and what the deployed function should find in them. */
const DERIVED_VARIABLES = [
  'GOOGLE_CLOUD_PROJECT',
  'SCHEDULER_REGION',
  'SCHEDULER_SERVICE_ACCOUNT',
  'SCHEDULER_MODE',
  'SCHEDULER_BUCKET',
  'SCHEDULER_REPORTS',
  'SCHEDULER_RAW',
  'SCHEDULER_STATE',
  'SCHEDULER_INCOMING_AUTH',
  'SCHEDULER_AUDIENCE',
] as const;

/**
 * The deploy settings, and the config as the deployed function will load it: the same file under the
 * environment deploy gives the function. Everything else (queues, jobs, IAM) is derived from that
 * config, so what is set up is what the function will use. A store that would stay on local disk in
 * the function is refused here, before anything is created.
 */
export function resolveDeploy(inputs: DeployInputs): {
  settings: Omit<DeploySettings, 'storage'> & { storage: DeploySettings['storage'] };
  deployed: Config;
} {
  const { config } = inputs;
  const d = config.deploy ?? { env: {}, secrets: {} };
  const project = d.project ?? config.scheduler.tasks.project;
  if (!project)
    throw problem(
      config,
      'deploy.project',
      'no Google Cloud project to deploy to: set deploy.project (or scheduler.tasks.project)',
    );
  const region = d.region ?? config.scheduler.tasks.location ?? 'europe-west1';
  const functionName = d.function ?? 'scheduler';
  const serviceAccount =
    d.serviceAccount ??
    config.scheduler.tasks.serviceAccountEmail ??
    `${functionName}@${project}.iam.gserviceaccount.com`;
  const bucket = d.bucket ?? firstBucket(config) ?? `${project}-scheduler`;
  const audience = functionAudience(project, region, functionName);
  const storageVar = (key: 'reports' | 'raw' | 'state') =>
    config.storage[key].startsWith('gs://') ? config.storage[key] : `gs://${bucket}/${key}`;
  const derived: Record<(typeof DERIVED_VARIABLES)[number], string> = {
    GOOGLE_CLOUD_PROJECT: project,
    SCHEDULER_REGION: region,
    SCHEDULER_SERVICE_ACCOUNT: serviceAccount,
    SCHEDULER_MODE: config.scheduler.mode,
    SCHEDULER_BUCKET: bucket,
    SCHEDULER_REPORTS: storageVar('reports'),
    SCHEDULER_RAW: storageVar('raw'),
    SCHEDULER_STATE: storageVar('state'),
    // What Cloud Scheduler and Cloud Tasks send (OIDC tokens), for a config that reads its type.
    SCHEDULER_INCOMING_AUTH: 'google-id-token',
    SCHEDULER_AUDIENCE: audience,
  };
  const read = referencedVariables(inputs.configText);
  const env: Record<string, string> = {
    SCHEDULER_CONFIG: inputs.configFile,
    GOOGLE_CLOUD_PROJECT: project,
  };
  for (const name of DERIVED_VARIABLES) if (read.has(name)) env[name] = derived[name];
  Object.assign(env, d.env);

  const deployed = inputs.reload(env);
  const storage = deployedStorage(config, deployed, bucket);
  const timeoutSeconds = functionTimeoutSeconds(deployed);
  if (timeoutSeconds > MAX_FUNCTION_TIMEOUT_SECONDS)
    throw problem(
      config,
      'scheduler.deadline_seconds',
      `${deployed.scheduler.deadlineSeconds} s plus the report and alert budgets is ${timeoutSeconds} s, over the ${MAX_FUNCTION_TIMEOUT_SECONDS} s a function may run`,
    );
  return {
    settings: {
      project,
      region,
      functionName,
      serviceAccount,
      ownServiceAccount: serviceAccount.endsWith(`@${project}.iam.gserviceaccount.com`),
      audience,
      memory: d.memory ?? DEFAULT_MEMORY,
      timeoutSeconds,
      attemptDeadlineSeconds: attemptDeadlineSeconds(timeoutSeconds),
      maxInstances: d.maxInstances ?? null,
      reportsRetentionDays: d.reportsRetentionDays ?? DEFAULT_REPORTS_RETENTION_DAYS,
      env: sortedRecord(env),
      secretEnv: sortedRecord(
        Object.fromEntries(Object.entries(d.secrets ?? {}).map(([name, ref]) => [name, secretRef(ref)])),
      ),
      storage,
    },
    deployed,
  };
}

/** The deployed function's stores, which must all be on Cloud Storage (shared by every instance). */
function deployedStorage(config: Config, deployed: Config, bucket: string): DeploySettings['storage'] {
  const storage = {} as DeploySettings['storage'];
  for (const key of ['reports', 'raw', 'state'] as const) {
    const location = parseLocation(deployed.storage[key]);
    if (location.kind !== 'gcs') {
      throw problem(
        config,
        `storage.${key}`,
        `"${deployed.storage[key]}" is on local disk for the deployed function, where every instance must share it: set it to a gs:// URI (the default config reads $SCHEDULER_${key.toUpperCase()}, which deploy sets to gs://${bucket}/${key})`,
      );
    }
    storage[key] = { bucket: location.bucket, prefix: location.prefix };
  }
  return storage;
}

/** A gen2 function's cloudfunctions.net URL, which deploy makes an accepted audience. */
export function functionAudience(project: string, region: string, functionName: string): string {
  return `https://${region}-${project}.cloudfunctions.net/${functionName}`;
}

/** `${NAME}` and `${NAME:-default}` occurrences in a config text. */
export function referencedVariables(text: string): Set<string> {
  return new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)].map((m) => m[1]!));
}

/** `--set-secrets` wants `secret:version` or `projects/P/secrets/S:version`. */
function secretRef(ref: string): string {
  const full = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/.exec(ref);
  return full ? `${full[1]}:${full[2]}` : ref;
}

function problem(config: Config, path: string, message: string): ConfigError {
  return new ConfigError(config.source, [{ path, line: null, message }]);
}

function firstBucket(config: Config): string | undefined {
  for (const uri of [config.storage.reports, config.storage.state, config.storage.raw]) {
    const m = /^gs:\/\/([^/]+)/.exec(uri);
    if (m) return m[1];
  }
  return undefined;
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
