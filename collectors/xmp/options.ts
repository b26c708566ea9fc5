import * as v from 'valibot';
import { PermanentError } from '../../src/runtime/errors';
import type { CredentialRef } from '../../src/secrets/types';
import { isValidTimezone } from '../../src/schedule/cron';
import { parseOptions } from '../options';

/** XMP's Open API (upstreams.md §5). */
export const DEFAULT_BASE_URL = 'https://xmp-open.mobvista.com';

/** The Open API's default budget: 10 requests per minute per account. */
export const DEFAULT_REQUESTS_PER_MINUTE = 10;

/** The Open API's largest page (`page_size` 1–1000) and its default. */
export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 200;

/** realtime: re-pull the last days, today included (same-day data is incomplete); daily: T-1 only. */
export const XMP_MODES = ['realtime', 'daily'] as const;
export type XmpMode = (typeof XMP_MODES)[number];

/** signed: the public Open API (client_id + md5 signature); login: a session token shared through the broker. */
export const XMP_AUTH_STYLES = ['signed', 'login'] as const;
export type XmpAuthStyle = (typeof XMP_AUTH_STYLES)[number];

export const XMP_REPORTS = ['ad_report', 'creative_report', 'creative_library'] as const;
export type XmpReport = (typeof XMP_REPORTS)[number];

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
const names = (what: string) =>
  v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1, `must name at least one ${what}`));
const dotPath = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'must be a dot path into the JSON answer, e.g. data.token'),
);
const whole = (min: number, max: number) =>
  v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(min), v.maxValue(max));

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
  base_url: v.optional(v.pipe(v.string(), v.url('is not a URL')), DEFAULT_BASE_URL),
  /** The ad account's time zone: it decides what "today" and "yesterday" are. */
  timezone: v.optional(
    v.pipe(v.string(), v.check(isValidTimezone, 'is not an IANA time zone (e.g. Asia/Shanghai, UTC)')),
    'UTC',
  ),
  /** How many days realtime mode re-pulls, today included. */
  realtime_days: v.optional(whole(1, 7), 2),
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

  // Account login (not public: endpoint and fields come from the operator).
  username_env: v.optional(envName, 'XMP_USERNAME'),
  username_secret: v.optional(secretName),
  password_env: v.optional(envName, 'XMP_PASSWORD'),
  password_secret: v.optional(secretName),
  /** Path of the login endpoint on base_url (required with auth: login). */
  login_path: v.optional(v.pipe(v.string(), v.regex(/^\/\S*$/, 'must be a path starting with "/"'))),
  login_username_field: v.optional(v.pipe(v.string(), v.minLength(1)), 'username'),
  login_password_field: v.optional(v.pipe(v.string(), v.minLength(1)), 'password'),
  /** Where the token is in the login answer. */
  token_field: v.optional(dotPath, 'data.token'),
  /** Where its lifetime in seconds is, if the answer says; else token_lifetime_seconds. */
  expires_in_field: v.optional(dotPath),
  token_lifetime_seconds: v.optional(whole(60, 30 * 24 * 3600), 3600),
  /** The header carrying the token, and the scheme before it ("" sends the bare token). */
  token_header: v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]+$/, 'is not a header name')),
    'Authorization',
  ),
  token_scheme: v.optional(v.string(), 'Bearer'),
  /** Envelope codes meaning "this token (or signature) is not valid", besides HTTP 401. */
  token_error_codes: v.optional(v.array(v.pipe(v.number(), v.integer())), [401]),

  // What to pull.
  metrics: v.optional(names('metric'), ['impression', 'click', 'install', 'cost']),
  dimensions: v.optional(v.array(v.string()), ['date', 'geo', 'campaign_id', 'campaign_name']),
  /** The ad report's channel filter (`module`), if any. */
  module: v.optional(v.string()),
  creative_metrics: v.optional(names('metric'), ['impression', 'click', 'install', 'cost']),
  creative_dimensions: v.optional(v.array(v.string()), []),
  cost_currency: v.optional(v.picklist(['cny', 'usd', 'eur'], 'must be one of cny, usd, eur'), 'usd'),
  page_size: v.optional(whole(1, MAX_PAGE_SIZE), DEFAULT_PAGE_SIZE),
  requests_per_minute: v.optional(whole(1, 6000), DEFAULT_REQUESTS_PER_MINUTE),
});

export type XmpOptions = v.InferOutput<typeof optionsSchema>;

export function parseXmpOptions(raw: Readonly<Record<string, unknown>>): XmpOptions {
  const options = parseOptions(optionsSchema, raw);
  if (options.auth === 'login' && !options.login_path) {
    throw new PermanentError(
      'options.login_path: required with auth: login (XMP does not publish its login endpoint: take the path from the web console, or use auth: signed with an Open API client_id)',
      { details: { problems: ['options.login_path'] } },
    );
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
