import type { OAuth2Client } from 'google-auth-library';
import { errorMessage } from '../../errors';
import { bearerToken, denied, type CallerCheck, type CallerVerdict } from './types';

export interface GoogleIdTokenCheckConfig {
  audiences: readonly string[];
  /** Lower case. */
  allowedEmails: readonly string[];
  certsUrl: string;
  /** How Google's certificates are fetched (gaxios' own default loads node-fetch). */
  fetch?: typeof fetch;
}

/**
 * Why google-auth-library refused a token, from the start of its message (the messages go on to quote
 * the token itself, so they are never logged or answered).
 */
const REFUSALS: [RegExp, string][] = [
  [/^Wrong number of segments/, 'not a JWT'],
  [/^Can't parse token/, 'not a JWT'],
  [/^No pem found for envelope/, 'signed with a key Google does not publish (or unsigned)'],
  [/^Invalid token signature/, 'bad signature'],
  [/^No issue time in token/, 'no iat claim'],
  [/^No expiration time in token/, 'no exp claim'],
  [/^(iat|exp) field using invalid format/, 'malformed iat/exp claim'],
  [/^Expiration time too far in future/, 'lifetime over 24 h'],
  [/^Token used too early/, 'not valid yet (iat in the future)'],
  [/^Token used too late/, 'expired'],
  [/^Invalid issuer/, 'wrong issuer'],
  [/^Wrong recipient/, 'wrong audience'],
];

/**
 * Verifies `Authorization: Bearer <Google-signed ID token>` with google-auth-library's
 * `OAuth2Client.verifyIdToken`: the RS256 signature against Google's published certificates (fetched
 * and cached for their max-age), the issuer (accounts.google.com), expiry and issue time (5 min skew),
 * and `aud` against the configured audiences. Google signs tokens for any account and any audience it
 * is asked for, so the `email` claim must then be in the allow-list, and verified.
 */
export class GoogleIdTokenCheck implements CallerCheck {
  readonly type = 'google-id-token';
  private client: OAuth2Client | null = null;
  private readonly allowed: ReadonlySet<string>;

  constructor(private readonly config: GoogleIdTokenCheckConfig) {
    this.allowed = new Set(config.allowedEmails.map((e) => e.toLowerCase()));
  }

  async check(request: {
    authorization: string | undefined;
    extraAudiences?: readonly string[];
  }): Promise<CallerVerdict> {
    const idToken = bearerToken(request.authorization);
    if (!idToken) return denied(401, 'no bearer token');
    const audience = [...this.config.audiences, ...(request.extraAudiences ?? [])];
    let claims: { email?: unknown; email_verified?: unknown } | undefined;
    try {
      claims = (await this.oauth2().verifyIdToken({ idToken, audience })).getPayload();
    } catch (error) {
      const message = errorMessage(error);
      if (message.startsWith('Failed to retrieve verification certificates')) {
        return denied(503, `Google's certificates could not be fetched from ${this.config.certsUrl}`);
      }
      const why = REFUSALS.find(([pattern]) => pattern.test(message))?.[1] ?? 'unverifiable token';
      return denied(401, `ID token refused: ${why}`);
    }
    const email = typeof claims?.email === 'string' ? claims.email.toLowerCase() : undefined;
    if (!email) return denied(403, 'ID token without an email claim');
    if (!this.allowed.has(email))
      return denied(403, 'email not in scheduler.incoming_auth.allowed_emails', email);
    if (claims?.email_verified !== true) return denied(403, 'email not verified', email);
    return { allowed: true, caller: email };
  }

  /** One client per instance: it caches Google's certificates. Loaded on first use (~60 ms). */
  private oauth2(): OAuth2Client {
    if (!this.client) {
      const { OAuth2Client } = require('google-auth-library') as typeof import('google-auth-library');
      this.client = new OAuth2Client({
        endpoints: { oauth2FederatedSignonPemCertsUrl: this.config.certsUrl },
        ...(this.config.fetch ? { transporterOptions: { fetchImplementation: this.config.fetch } } : {}),
      });
    }
    return this.client;
  }
}
