import { createHash } from 'node:crypto';
import type { RetryPolicy } from '../../src/config/types';
import { SchedulerError } from '../../src/errors';
import { policyFromConfig, retryResult } from '../../src/util/retry';
import { isRetryableRunError, PermanentError } from '../../src/runtime/errors';
import { getJson, type UpstreamDeps } from '../../src/runtime/upstream';
import type { LoginFn, LoginResult, TokenBroker } from '../../src/token/types';
import type { Clock } from '../../src/util/clock';
import { classifyEnvelope } from './envelope';
import type { RateLimiter } from './limiter';
import type { ConsoleOptions, XmpOptions } from './options';

/** A login that fails on the network or with a 5xx is tried this many times in all. */
export const LOGIN_RETRY: RetryPolicy = { attempts: 3, minBackoffSeconds: 2, maxBackoffSeconds: 30 };

/** What one request carries to prove who it is. */
export interface Credentials {
  headers: Record<string, string>;
  /** Merged into the JSON body. */
  fields: Record<string, unknown>;
  /** The session token used, to invalidate exactly that one if it is refused. */
  token: string | null;
}

export interface XmpAuth {
  readonly style: 'signed' | 'login';
  /**
   * Readies one attempt (the login style gets the shared token here, logging in if need be) and answers
   * what builds its credentials once the attempt has its budget slot: a signature is valid for 30 s
   * only, so it is made then. Never called while holding a slot: a login needs one of its own.
   */
  prepare(signal: AbortSignal): Promise<() => Credentials>;
  /**
   * The upstream refused the credentials of one attempt. Resolves true when a retry may succeed
   * (the token was invalidated and the next `credentials` logs in again or finds a fresher one).
   */
  refused(used: Credentials): Promise<boolean>;
}

/**
 * The public Open API: `client_id`, `timestamp` (unix seconds, valid 30 s) and
 * `sign = md5(client_secret + timestamp)` in every body. Stateless: nothing to share or invalidate.
 */
export function signedAuth(clientId: string, clientSecret: string, clock: Clock): XmpAuth {
  return {
    style: 'signed',
    prepare: async () => () => {
      const timestamp = Math.floor(clock.now() / 1000);
      const sign = createHash('md5').update(`${clientSecret}${timestamp}`).digest('hex');
      return { headers: {}, fields: { client_id: clientId, timestamp, sign }, token: null };
    },
    // A refused signature is a wrong client_id/client_secret (or a disabled Open API permission): retrying
    // the same pair cannot help.
    refused: async () => false,
  };
}

export interface LoginAuthDeps {
  upstream: Omit<UpstreamDeps, 'signal'>;
  tokens: TokenBroker;
  limiter: RateLimiter;
  options: XmpOptions;
  username: string;
  password: string;
  /** Counts logins this run performed itself (the broker may have found a token instead). */
  onLogin?: () => void;
}

/**
 * The web console's login session (console-style API, unconfirmed): a token shared by every job of the
 * account through the token broker, so that only one of them logs in (a new login invalidates every
 * earlier token of the account).
 */
export function loginAuth(deps: LoginAuthDeps): XmpAuth {
  const { options, tokens } = deps;
  const consoleApi = options.console as ConsoleOptions;
  const url = consoleApi.login_url;
  // The login is a request to XMP like any other: each attempt draws on the account's budget.
  const post = async (upstream: UpstreamDeps): Promise<LoginResult> => {
    const release = await deps.limiter.acquire(upstream.signal);
    try {
      deps.onLogin?.();
      const answer = await getJson<unknown>(upstream, url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          [consoleApi.username_field]: deps.username,
          [consoleApi.password_field]: deps.password,
        }),
        retry: { attempts: 1, minBackoffSeconds: 0, maxBackoffSeconds: 0 },
      });
      return loginResult(answer, options, deps.upstream.clock.now());
    } finally {
      release();
    }
  };
  const login: LoginFn = async (signal) => {
    const upstream: UpstreamDeps = { ...deps.upstream, signal: signal ?? new AbortController().signal };
    return retryResult<LoginResult, unknown>(
      async () => {
        try {
          return { ok: true, value: await post(upstream) };
        } catch (error) {
          return {
            ok: false,
            failure: error,
            retryable: !upstream.signal.aborted && isRetryableRunError(error),
          };
        }
      },
      {
        policy: policyFromConfig(LOGIN_RETRY),
        clock: upstream.clock,
        signal: upstream.signal,
        ...(upstream.random ? { random: upstream.random } : {}),
      },
    ).then((result) => {
      if (result.ok) return result.value;
      throw result.stop.kind === 'aborted' ? result.stop.reason : result.failure;
    });
  };
  const header = (token: string) => (consoleApi.token_scheme ? `${consoleApi.token_scheme} ${token}` : token);
  return {
    style: 'login',
    async prepare(signal) {
      const token = await tokens.getToken(options.account, login, signal);
      return () => ({ headers: { [consoleApi.token_header]: header(token) }, fields: {}, token });
    },
    async refused(used) {
      if (used.token) await tokens.invalidate(options.account, used.token);
      return true;
    },
  };
}

/** The token (and its expiry) from a login answer, or a permanent error saying what was wrong. */
export function loginResult(answer: unknown, options: XmpOptions, nowMs: number): LoginResult {
  const consoleApi = options.console as ConsoleOptions;
  const where = `the XMP console login (${new URL(consoleApi.login_url).pathname})`;
  const code = at(answer, 'code');
  if (typeof code === 'number' && !consoleApi.success_codes.includes(code)) {
    const msg = at(answer, 'msg') ?? at(answer, 'message');
    const kind = classifyEnvelope(code, typeof msg === 'string' ? msg : undefined, {
      successCodes: consoleApi.success_codes,
      rateLimitCodes: options.rate_limit_codes,
      authErrorCodes: [],
    });
    // Busy or rate-limited is worth another attempt (LOGIN_RETRY); anything else is about the credentials.
    if (kind === 'rate_limit' || kind === 'transient') {
      throw new SchedulerError(
        'UPSTREAM_HTTP',
        `${where} answered code ${code}${typeof msg === 'string' ? ` (${msg})` : ''}`,
        { details: { xmp_code: code } },
      );
    }
    throw new PermanentError(
      `${where} refused account ${options.account}: code ${code}${typeof msg === 'string' ? ` (${msg})` : ''}; check ${options.username_secret ?? options.username_env} and ${options.password_secret ?? options.password_env}`,
      { details: { xmp_code: code } },
      'TOKEN_LOGIN_FAILED',
    );
  }
  const token = at(answer, consoleApi.token_field);
  if (typeof token !== 'string' || token === '') {
    throw new PermanentError(
      `${where} answered no token at ${consoleApi.token_field} (set options.console.token_field to where the token is)`,
      {},
      'UPSTREAM_INVALID',
    );
  }
  const expiresIn = consoleApi.expires_in_field ? at(answer, consoleApi.expires_in_field) : undefined;
  const seconds =
    typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : consoleApi.token_lifetime_seconds;
  return { token, expiresAt: nowMs + seconds * 1000 };
}

/** The value at a dot path (`data.token`) of a parsed JSON answer. */
function at(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
