import * as v from 'valibot';
import { isValidTimezone } from '../../src/schedule/cron';
import type { CredentialRef } from '../../src/secrets/types';
import { httpUrl, optionsError, parseOptions, wholeNumber } from '../options';

/** XMP's Open API (help-xmp.mobvista.com "Open API Protocol"; upstreams.md §5). */
export const DEFAULT_BASE_URL = 'https://xmp-open.mobvista.com';

/** The Open API's default budget: 10 requests per minute per account (Open API Protocol page). */
export const DEFAULT_REQUESTS_PER_MINUTE = 10;

/** The Open API's largest page (`page_size` 1–1000) and its default (200). */
export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 200;

/** realtime: re-pull the last days, today included (same-day data is incomplete); daily: T-1 only. */
export const XMP_MODES = ['realtime', 'daily'] as const;
export type XmpMode = (typeof XMP_MODES)[number];

/**
 * signed: the public Open API (client_id + md5 signature); login: the web console's session API, its
 * token shared through the broker. The console API is not documented anywhere public (upstreams.md §5):
 * every part of it is configurable under `console`, and it is off unless `auth: login` is set.
 */
export const XMP_AUTH_STYLES = ['signed', 'login'] as const;
export type XmpAuthStyle = (typeof XMP_AUTH_STYLES)[number];

export const XMP_REPORTS = ['ad_report', 'creative_report', 'creative_library'] as const;
export type XmpReport = (typeof XMP_REPORTS)[number];

/** USD, CNY or EUR (the ad report's `currency`, the creative report's `cost_currency`; any case). */
export const CURRENCIES = ['USD', 'CNY', 'EUR'] as const;

const envName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not an environment variable name'),
);
const secretName = v.pipe(
  v.string(),
  v.regex(
    /^projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+$/,
    'must look like projects/P/secrets/S/versions/V',
  ),
);
const metricName = v.pipe(v.string(), v.regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'is not a metric name'));
const metricList = v.pipe(v.array(metricName), v.minLength(1, 'must name at least one metric'));
const dotPath = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'must be a dot path into the JSON answer, e.g. data.token'),
);
const codes = v.array(v.pipe(v.number(), v.integer()));
const scalar = v.union([v.string(), v.number(), v.boolean(), v.array(v.string())]);

/** The console-style API behind `auth: login`: unconfirmed, so every part is an option. */
const consoleSchema = v.strictObject({
  /** The login endpoint (required): take it from the web console. */
  login_url: httpUrl,
  username_field: v.optional(v.pipe(v.string(), v.minLength(1)), 'username'),
  password_field: v.optional(v.pipe(v.string(), v.minLength(1)), 'password'),
  /** Where the token is in the login answer, and its lifetime in seconds if the answer says. */
  token_field: v.optional(dotPath, 'data.token'),
  expires_in_field: v.optional(dotPath),
  token_lifetime_seconds: v.optional(wholeNumber(60, 30 * 24 * 3600), 3600),
  /** The header carrying the token, and the scheme before it ("" sends the bare token). */
  token_header: v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]+$/, 'is not a header name')),
    'Authorization',
  ),
  token_scheme: v.optional(v.string(), 'Bearer'),
  /** The console's API (seen in public clients: https://xmp-api.mobvista.com/admanage/channel/summary). */
  api_base: v.optional(httpUrl, 'https://xmp-api.mobvista.com'),
  report_path: v.optional(
    v.pipe(v.string(), v.regex(/^\/\S*$/, 'must be a path starting with "/"')),
    '/admanage/channel/summary',
  ),
  /** Body field names for the day window, the metrics and the dimensions; constant fields in `body`. */
  start_field: v.optional(v.string(), 'start_time'),
  end_field: v.optional(v.string(), 'end_time'),
  metrics_field: v.optional(v.string(), 'field'),
  dimensions_field: v.optional(v.string(), 'group_by'),
  body: v.optional(v.record(v.string(), scalar), { level: 'campaign' }),
  success_codes: v.optional(codes, [0, 200]),
});

const optionsSchema = v.strictObject({
  /**
   * The account key: every job with the same key shares one token object, one login lease and one
   * request budget. Give xmp and xmp-daily the same key when they use the same XMP account.
   */
  account: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be letters, digits, ".", "_" or "-" (at most 100)'),
    ),
    'xmp',
  ),
  mode: v.optional(v.picklist(XMP_MODES, `must be one of ${XMP_MODES.join(', ')}`), 'realtime'),
  auth: v.optional(v.picklist(XMP_AUTH_STYLES, `must be one of ${XMP_AUTH_STYLES.join(', ')}`), 'signed'),
  base_url: v.optional(httpUrl, DEFAULT_BASE_URL),
  /** The ad account's time zone: it decides what "today" and "yesterday" are. */
  timezone: v.optional(
    v.pipe(v.string(), v.check(isValidTimezone, 'is not an IANA time zone (e.g. Asia/Shanghai, UTC)')),
    'UTC',
  ),
  /** How many days realtime mode re-pulls, today included. */
  realtime_days: v.optional(wholeNumber(1, 7), 2),
  reports: v.optional(
    v.pipe(
      v.array(v.picklist(XMP_REPORTS, `must be one of ${XMP_REPORTS.join(', ')}`)),
      v.minLength(1, 'must name at least one report'),
    ),
    [...XMP_REPORTS],
  ),

  // Signed Open API credentials (API Token Management in the XMP profile).
  client_id_env: v.optional(envName, 'XMP_CLIENT_ID'),
  client_id_secret: v.optional(secretName),
  client_secret_env: v.optional(envName, 'XMP_CLIENT_SECRET'),
  client_secret_secret: v.optional(secretName),
  // Console login credentials (auth: login).
  username_env: v.optional(envName, 'XMP_USERNAME'),
  username_secret: v.optional(secretName),
  password_env: v.optional(envName, 'XMP_PASSWORD'),
  password_secret: v.optional(secretName),
  console: v.optional(consoleSchema),

  // What to pull.
  metrics: v.optional(metricList, ['impression', 'click', 'install', 'cost']),
  dimensions: v.optional(v.array(v.string()), ['date', 'geo', 'campaign_id', 'campaign_name']),
  /** The ad report's channel filter (`module`), if any. */
  module: v.optional(v.string()),
  creative_metrics: v.optional(metricList, ['impression', 'click', 'install', 'cost']),
  creative_dimensions: v.optional(v.array(v.string()), []),
  /** Reports in one currency; without it each ad account reports in its own and totals mix currencies. */
  currency: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.toUpperCase()),
      v.picklist(CURRENCIES, `must be one of ${CURRENCIES.join(', ')}`),
    ),
    'USD',
  ),
  /** The creative library by creation date (`start_date`) or update date (`start_date_up`, the zh v2 doc). */
  library_date: v.optional(v.picklist(['created', 'updated'], 'must be created or updated'), 'created'),
  /** Check metric names against /v1/media/report/fields (once per account and day) before pulling. */
  check_metrics: v.optional(v.boolean(), true),
  page_size: v.optional(wholeNumber(1, MAX_PAGE_SIZE), DEFAULT_PAGE_SIZE),
  requests_per_minute: v.optional(wholeNumber(1, 6000), DEFAULT_REQUESTS_PER_MINUTE),
  /**
   * How answers are classified. Success is `code: 0` (five public clients test `code == 0`; the docs'
   * examples show 0). XMP publishes no error code table: rate limits are recognised by their wording
   * ("Request Too Frequent", "Too Many Requests", "request too often", "请求太频繁") or these codes, refused
   * credentials by their wording or these codes (besides HTTP 401/403). Unconfirmed, hence options.
   */
  success_codes: v.optional(codes, [0]),
  rate_limit_codes: v.optional(codes, [429]),
  auth_error_codes: v.optional(codes, [401, 403]),
});

export type XmpOptions = v.InferOutput<typeof optionsSchema>;
export type ConsoleOptions = NonNullable<XmpOptions['console']>;

export function parseXmpOptions(raw: Readonly<Record<string, unknown>>): XmpOptions {
  const options = parseOptions(optionsSchema, raw);
  if (options.auth === 'login' && !options.console) {
    throw optionsError([
      {
        path: ['console'],
        message:
          'required with auth: login (login_url at least): XMP does not publish its console API, take it from the web console, or use auth: signed with an Open API client_id',
      },
    ]);
  }
  if (options.auth === 'login' && raw['reports'] === undefined) return { ...options, reports: ['ad_report'] };
  if (options.auth === 'login' && options.reports.some((r) => r !== 'ad_report')) {
    throw optionsError([
      {
        path: ['reports'],
        message:
          'only ad_report is pulled through the console API (auth: login); use auth: signed for the creative reports',
      },
    ]);
  }
  return options;
}

function ref(secret: string | undefined, env: string): CredentialRef {
  return secret ? { secret } : { env };
}

/** Where each credential comes from; a Secret Manager reference wins over the env var. */
export function credentialRefs(options: XmpOptions): Record<'id' | 'secret', CredentialRef> {
  return options.auth === 'signed'
    ? {
        id: ref(options.client_id_secret, options.client_id_env),
        secret: ref(options.client_secret_secret, options.client_secret_env),
      }
    : {
        id: ref(options.username_secret, options.username_env),
        secret: ref(options.password_secret, options.password_env),
      };
}
