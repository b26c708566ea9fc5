import * as v from 'valibot';
import { compileSchedule, isValidTimezone } from '../schedule/cron';
import { schedulerSchedulingKeys, schedulingKeys } from './scheduling';
import { alertsSchema, deploySchema } from './ops-sections';
import { envName, secretVersion } from './name-schemas';
import { AUTH_TYPES, DISPATCH_MODES } from './types';

/**
 * The config file's schema, in the file's own (snake_case) words. It accepts both the current layout
 * and the original Python design's (`scheduler.collectors`, `scheduler.collector_urls`, ...);
 * `normalise.ts` maps either onto the typed `Config`.
 */

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const nameKey = v.pipe(
  v.string(),
  v.regex(NAME, 'is not a valid collector name (lowercase letters, digits, "-" and "_", at most 63)'),
);

const positive = (what: string, max: number) =>
  v.pipe(
    v.number(),
    v.minValue(Number.MIN_VALUE, `must be a positive number of ${what}`),
    v.maxValue(max, `must be at most ${max} ${what}`),
  );
const positiveInt = (max: number) =>
  v.pipe(
    v.number(),
    v.integer('must be a whole number'),
    v.minValue(1, 'must be at least 1'),
    v.maxValue(max, `must be at most ${max}`),
  );
const nonNegative = (what: string, max: number) =>
  v.pipe(
    v.number(),
    v.minValue(0, `must be zero or more ${what}`),
    v.maxValue(max, `must be at most ${max} ${what}`),
  );

const httpUrl = v.pipe(
  v.string(),
  v.check((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'is not an http(s) URL'),
);

const cron = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      // The zone does not change whether an expression is valid or ever fires.
      compileSchedule(dataset.value, 'UTC');
    } catch (error) {
      addIssue({ message: (error as Error).message });
    }
  }),
);

const timezone = v.pipe(
  v.string(),
  v.check(isValidTimezone, 'is not an IANA time zone (e.g. Europe/Paris, UTC)'),
);

export const retrySchema = v.strictObject({
  attempts: v.optional(positiveInt(10)),
  min_backoff_seconds: v.optional(nonNegative('seconds', 600)),
  max_backoff_seconds: v.optional(nonNegative('seconds', 3600)),
});

const authType = v.picklist(AUTH_TYPES, `must be one of ${AUTH_TYPES.join(', ')}`);

const authSchema = v.strictObject({
  type: authType,
  token_env: v.optional(envName),
  secret: v.optional(secretVersion),
});

/** Who may call the function (normalise.ts checks which keys go with which type). */
const incomingAuthSchema = v.strictObject({
  type: authType,
  audiences: v.optional(v.array(httpUrl, 'must be a list of URLs')),
  allowed_emails: v.optional(
    v.array(v.pipe(v.string(), v.email('is not an e-mail address')), 'must be a list of e-mail addresses'),
  ),
  certs_url: v.optional(httpUrl),
  token_env: v.optional(envName),
  secret: v.optional(secretVersion),
  allow_unauthenticated: v.optional(v.boolean()),
});

const tasksSchema = v.strictObject({
  project: v.optional(v.string()),
  location: v.optional(v.string()),
  queue: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[A-Za-z0-9-]{1,100}$/, 'is not a valid queue id (letters, digits, hyphens)'),
    ),
  ),
  service_account_email: v.optional(v.pipe(v.string(), v.email('is not an e-mail address'))),
  max_dispatches_per_second: v.optional(positive('dispatches per second', 500)),
  max_concurrent_dispatches: v.optional(positiveInt(5000)),
  max_attempts: v.optional(v.pipe(v.number(), v.integer(), v.minValue(-1), v.maxValue(100))),
});

export const collectorSchema = v.strictObject({
  /** The implementation, when this entry is another job of a built-in collector (xmp-daily → xmp). */
  collector: v.optional(v.pipe(v.string(), v.regex(NAME, 'is not a valid collector name'))),
  enabled: v.optional(v.boolean()),
  schedule: v.optional(v.nullable(cron)),
  url: v.optional(v.nullable(httpUrl)),
  timeout_seconds: v.optional(positive('seconds', 3600)),
  // A list is an object too: without the check, `options: []` would silently mean "all defaults".
  options: v.optional(
    v.pipe(
      v.custom<Record<string, unknown>>(
        (o) => o !== null && typeof o === 'object' && !Array.isArray(o),
        (issue) =>
          `must be a mapping of option names to values, ${Array.isArray(issue.input) ? 'not a list' : `got ${issue.received}`}`,
      ),
      v.record(v.string(), v.unknown()),
    ),
  ),
  group: v.optional(v.nullable(v.pipe(v.string(), v.regex(NAME, 'is not a valid group name')))),
  group_wait_seconds: v.optional(nonNegative('seconds', 3600)),
  queue: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]{1,100}$/, 'is not a valid queue id'))),
  retry: v.optional(retrySchema),
  description: v.optional(v.string()),
  shards: v.optional(v.boolean()),
  ...schedulingKeys,
});

const schedulerSchema = v.strictObject({
  mode: v.optional(v.picklist(DISPATCH_MODES, `must be one of ${DISPATCH_MODES.join(', ')}`)),
  timezone: v.optional(timezone),
  max_concurrent_collectors: v.optional(positiveInt(1000)),
  deadline_seconds: v.optional(positive('seconds', 3600)),
  report_budget_seconds: v.optional(positive('seconds', 600)),
  max_response_bytes: v.optional(positiveInt(64 * 1024 * 1024)),
  retry: v.optional(retrySchema),
  auth: v.optional(authSchema),
  incoming_auth: v.optional(incomingAuthSchema),
  tasks: v.optional(tasksSchema),
  // The original design's keys.
  use_cloud_tasks: v.optional(v.boolean()),
  queue_name: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]{1,100}$/, 'is not a valid queue id'))),
  service_account_email: v.optional(v.pipe(v.string(), v.email('is not an e-mail address'))),
  use_secret_manager: v.optional(v.boolean()),
  base_function_url: v.optional(httpUrl),
  project_id: v.optional(v.string()),
  region: v.optional(v.string()),
  collectors: v.optional(v.record(nameKey, collectorSchema)),
  collector_urls: v.optional(v.record(nameKey, httpUrl)),
  ...schedulerSchedulingKeys,
});

/** Sections of the original design's file that belong to the collectors, kept as they are. */
export const LEGACY_SECTIONS = [
  'project_id',
  'region',
  'environment',
  'gcs_config',
  'data_sources',
  'bigquery_config',
  'logging',
  'monitoring',
  'notifications',
  'secrets',
  'cloud_functions',
  'processing_config',
  'logging_config',
  'features',
] as const;

export const configSchema = v.strictObject({
  timezone: v.optional(timezone),
  storage: v.optional(
    v.strictObject({
      reports: v.optional(v.string()),
      raw: v.optional(v.string()),
      // null (e.g. `${SCHEDULER_STATE:-}` left unset): the default, beside the reports.
      state: v.optional(v.nullable(v.string())),
    }),
  ),
  scheduler: v.optional(schedulerSchema),
  collectors: v.optional(v.record(nameKey, collectorSchema)),
  alerts: v.optional(alertsSchema),
  deploy: v.optional(deploySchema),
  ...Object.fromEntries(LEGACY_SECTIONS.map((k) => [k, v.optional(v.unknown())] as const)),
});

export type RawConfig = v.InferOutput<typeof configSchema> & {
  gcs_config?: unknown;
  monitoring?: unknown;
  cloud_functions?: unknown;
  project_id?: unknown;
  region?: unknown;
  data_sources?: unknown;
};
