import type { GoogleAuth, IdTokenClient } from 'google-auth-library';
import { isRetryableStatus } from '../util/retry';
import { Memo, MemoMap } from '../util/single-flight';
import { SchedulerError, errorMessage, isSchedulerError } from '../errors';
import { isoTime, systemClock, type Clock } from '../util/clock';
import { registerSecret, scrub } from '../util/secrets';
import { audienceOf } from '../util/url';
import type { HeaderProvider } from './types';

/**
 * A cached token is replaced this long before its `exp`, so no request leaves with a token that lapses
 * on the way (Google's own clients refresh 5 min early too).
 * @default 5 min
 */
export const ID_TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * How long one token fetch from the metadata server may take. On Google Cloud gcp-metadata sets no
 * timeout at all, so without this a stuck metadata server would hang every dispatch.
 * @default 10 s
 */
export const ID_TOKEN_FETCH_TIMEOUT_MS = 10_000;

export interface GoogleIdTokenOptions {
  /** Time for expiry checks and the fetch timeout. */
  clock?: Clock;
  refreshMarginMs?: number;
  fetchTimeoutMs?: number;
}

interface CachedToken {
  token: string;
  expiresAtMs: number;
}

const NO_CREDENTIALS_HELP =
  'no Google credentials to mint ID tokens (scheduler.auth.type google-id-token): run on Google Cloud, where ' +
  'the metadata server provides them, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file; ' +
  'use scheduler.auth.type none for collectors that need no authentication';

/**
 * Google ID tokens for collector URLs, one per audience (scheme, host and path: a query string never
 * reaches the token). On Cloud Functions the token comes from the metadata server, through
 * google-auth-library, which is loaded on first use only. Tokens are cached per audience until
 * `refreshMarginMs` before they expire; callers asking for one audience at the same time share one fetch.
 * A token is never put in an error message.
 */
export class GoogleIdTokenProvider implements HeaderProvider {
  private readonly clock: Clock;
  private readonly refreshMarginMs: number;
  private readonly fetchTimeoutMs: number;
  private library: typeof import('google-auth-library') | null = null;
  /**
   * A failed look is not kept: the metadata server may only have been slow to answer the probe at a cold
   * start. gcp-metadata keeps the outcome of its probe for the life of the process, a failed probe
   * included (its cachedIsAvailableResponse), so the next look must probe again.
   */
  private readonly auth = new Memo<GoogleAuth>(
    () => this.loadAuth(),
    () => this.library?.gcpMetadata.resetIsAvailableCache(),
  );
  private readonly clients = new MemoMap<string, IdTokenClient>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inFlight = new Map<string, Promise<CachedToken>>();

  constructor(options: GoogleIdTokenOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.refreshMarginMs = options.refreshMarginMs ?? ID_TOKEN_REFRESH_MARGIN_MS;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? ID_TOKEN_FETCH_TIMEOUT_MS;
  }

  async headersFor(url: string): Promise<Record<string, string>> {
    const { token } = await this.tokenFor(audienceOf(url));
    return { authorization: `Bearer ${token}` };
  }

  private tokenFor(audience: string): Promise<CachedToken> {
    const cached = this.tokens.get(audience);
    if (cached && this.clock.now() < cached.expiresAtMs - this.refreshMarginMs)
      return Promise.resolve(cached);
    let pending = this.inFlight.get(audience);
    if (!pending) {
      pending = this.fetch(audience).finally(() => this.inFlight.delete(audience));
      this.inFlight.set(audience, pending);
    }
    return pending;
  }

  private async fetch(audience: string): Promise<CachedToken> {
    const client = await this.clientFor(audience);
    let cancelTimeout = () => {};
    const timedOut = new Promise<never>((_, reject) => {
      cancelTimeout = this.clock.schedule(this.fetchTimeoutMs, () =>
        reject(new Error(`no answer within ${this.fetchTimeoutMs / 1000} s`)),
      );
    });
    let raw: unknown;
    try {
      raw = await Promise.race([client.idTokenProvider.fetchIdToken(audience), timedOut]);
    } catch (cause) {
      throw new SchedulerError(
        'AUTH_ID_TOKEN_UNAVAILABLE',
        `could not get an ID token for audience ${audience} from the metadata server: ${scrub(errorMessage(cause))}`,
        { cause, details: { audience, retryable: worthRetrying(cause) } },
      );
    } finally {
      cancelTimeout();
    }
    const cachedToken = this.check(raw, audience);
    this.tokens.set(audience, cachedToken);
    return cachedToken;
  }

  /** A usable JWT with a numeric `exp` still in the future; anything else is AUTH_ID_TOKEN_INVALID. */
  private check(raw: unknown, audience: string): CachedToken {
    const invalid = (why: string) =>
      new SchedulerError(
        'AUTH_ID_TOKEN_INVALID',
        `the metadata server answered ${why} for audience ${audience}`,
        {
          details: { audience },
        },
      );
    if (typeof raw !== 'string') throw invalid('something that is not an ID token (not a string)');
    registerSecret(raw);
    const parts = raw.split('.');
    if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[1]) {
      throw invalid('an ID token that is not a JWT (expected three base64url parts)');
    }
    let exp: unknown;
    try {
      exp = (JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown } | null)
        ?.exp;
    } catch {
      throw invalid('an ID token whose payload is not JSON');
    }
    if (typeof exp !== 'number' || !Number.isFinite(exp)) {
      throw invalid('an ID token without a numeric exp claim');
    }
    const expiresAtMs = exp * 1000;
    const now = this.clock.now();
    if (expiresAtMs <= now) {
      throw invalid(
        `an ID token that expired at ${isoTime(expiresAtMs)} (now ${isoTime(now)}; check the metadata server and the clock)`,
      );
    }
    return { token: raw, expiresAtMs };
  }

  private clientFor(audience: string): Promise<IdTokenClient> {
    return this.clients.get(audience, () =>
      this.auth.get().then(async (auth) => {
        try {
          return await auth.getIdTokenClient(audience);
        } catch (cause) {
          // The credentials found cannot mint ID tokens (user credentials from `gcloud auth login`).
          throw new SchedulerError(
            'AUTH_NO_CREDENTIALS',
            `${NO_CREDENTIALS_HELP} (${firstSentence(cause)})`,
            {
              cause,
            },
          );
        }
      }),
    );
  }

  /**
   * google-auth-library, loaded on first use, once its credentials are known to exist: checked before any
   * client is built, callers at the same time sharing one look and one message.
   */
  private async loadAuth(): Promise<GoogleAuth> {
    const library = require('google-auth-library') as typeof import('google-auth-library');
    this.library = library;
    const auth = new library.GoogleAuth();
    try {
      await auth.getClient();
    } catch (cause) {
      if (isSchedulerError(cause)) throw cause;
      throw new SchedulerError('AUTH_NO_CREDENTIALS', `${NO_CREDENTIALS_HELP} (${firstSentence(cause)})`, {
        cause,
      });
    }
    return auth;
  }
}

/**
 * Whether another attempt may get a token: the metadata server was unreachable, slow (our timeout or
 * gaxios') or answered 408, 429 or 5xx. A 4xx such as 404 (no such service account) will not change.
 */
function worthRetrying(cause: unknown): boolean {
  const status = statusOf(cause);
  return status === undefined ? true : isRetryableStatus(status);
}

function statusOf(error: unknown): number | undefined {
  const e = error as { status?: unknown; response?: { status?: unknown } } | null;
  const status = e?.response?.status ?? e?.status;
  return typeof status === 'number' ? status : undefined;
}

function firstSentence(error: unknown): string {
  return scrub(errorMessage(error).split('. ')[0] ?? '').replace(/\.$/, '');
}
