import type { RetryPolicy } from '../../src/config/types';
import { decideRetry, policyFromConfig } from '../../src/util/retry';
import { excerpt } from '../../src/util/read-body';
import { SchedulerError } from '../../src/errors';
import { isRetryableRunError, PermanentError, UpstreamHttpError } from '../../src/runtime/errors';
import { requestUpstream, type UpstreamDeps } from '../../src/runtime/upstream';
import type { Credentials, XmpAuth } from './auth';
import { classifyEnvelope, type Envelope, type EnvelopeRules } from './envelope';
import { WINDOW_MS, type RateLimiter } from './limiter';

export { classifyEnvelope, type CodeClass, type Envelope, type EnvelopeRules } from './envelope';

/** Transient failures (network, HTTP 5xx, busy envelopes) get this many attempts in all. */
export const XMP_RETRY: RetryPolicy = { attempts: 4, minBackoffSeconds: 2, maxBackoffSeconds: 60 };

/** Rate-limit answers are waited out (a minute each) this many times before giving up. */
export const MAX_TOO_FREQUENT = 5;

type Verdict =
  | { kind: 'ok'; data: unknown }
  | { kind: 'refused'; why: string }
  | { kind: 'too-frequent'; why: string }
  | { kind: 'transient'; error: Error };

/**
 * Calls to an XMP API: every attempt waits for the account's budget, carries fresh credentials, and is
 * judged by the envelope's `code` as much as by the HTTP status.
 */
export class XmpClient {
  /** Requests sent, retries included (what the budget counts). */
  requests = 0;
  private readonly base: string;

  constructor(
    private readonly deps: UpstreamDeps,
    base: string,
    private readonly auth: XmpAuth,
    private readonly limiter: RateLimiter,
    private readonly rules: EnvelopeRules,
    private readonly account: string,
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  /** POSTs `params` to `path` and answers the envelope's `data`. */
  async call(path: string, params: Record<string, unknown>): Promise<unknown> {
    let transient = 0;
    let tooFrequent = 0;
    let refusedOnce = false;
    for (;;) {
      this.deps.signal.throwIfAborted();
      const build = await this.auth.prepare(this.deps.signal);
      const release = await this.limiter.acquire(this.deps.signal);
      const credentials = build();
      let verdict: Verdict;
      try {
        this.requests++;
        verdict = await this.attempt(path, params, credentials);
      } finally {
        release();
      }
      switch (verdict.kind) {
        case 'ok':
          return verdict.data;
        case 'refused':
          // One more try with a fresh login (the broker's token may just have been replaced); not more.
          if (!refusedOnce && (await this.auth.refused(credentials))) {
            refusedOnce = true;
            this.deps.log.warn(
              `XMP refused the token of account ${this.account} (${verdict.why}); retrying once`,
            );
            continue;
          }
          throw this.refusal(path, verdict.why, refusedOnce);
        case 'too-frequent':
          if (++tooFrequent > MAX_TOO_FREQUENT)
            throw new SchedulerError(
              'UPSTREAM_HTTP',
              `POST ${this.base}${path}: still rate-limited (${verdict.why}) after ${MAX_TOO_FREQUENT} waits of a minute; another client may be using account ${this.account}'s budget`,
            );
          this.deps.log.warn(`XMP answered a rate limit (${verdict.why}); waiting a minute`, { path });
          this.limiter.holdOff(WINDOW_MS);
          continue;
        case 'transient': {
          // The rate-limit and refusal waits above are XMP's own; a transient failure follows the policy.
          const next = decideRetry(++transient, policyFromConfig(XMP_RETRY), {
            retryAfterMs: verdict.error instanceof UpstreamHttpError ? verdict.error.retryAfterMs : null,
            ...(this.deps.random ? { random: this.deps.random } : {}),
          });
          if (!next.retry) throw verdict.error;
          const delayMs = next.delayMs;
          this.deps.log.warn(`XMP call failed, retrying in ${delayMs} ms`, {
            path,
            error: verdict.error.message,
          });
          await this.deps.clock.sleep(delayMs, this.deps.signal);
        }
      }
    }
  }

  private async attempt(
    path: string,
    params: Record<string, unknown>,
    credentials: Credentials,
  ): Promise<Verdict> {
    let body: Buffer;
    try {
      const response = await requestUpstream(this.deps, {
        url: `${this.base}${path}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...credentials.headers },
        body: JSON.stringify({ ...params, ...credentials.fields }),
        // Each retry needs a fresh signature and a new budget slot: the loop above retries, not this call.
        retry: { attempts: 1, minBackoffSeconds: 0, maxBackoffSeconds: 0 },
      });
      body = response.body;
    } catch (error) {
      if (this.deps.signal.aborted) throw error;
      if (error instanceof UpstreamHttpError && (error.status === 401 || error.status === 403))
        return { kind: 'refused', why: `HTTP ${error.status}` };
      if (error instanceof UpstreamHttpError && error.status === 429)
        return { kind: 'too-frequent', why: 'HTTP 429' };
      if (isRetryableRunError(error) && error instanceof Error) return { kind: 'transient', error };
      throw error;
    }
    const envelope = parseEnvelope(body, `${this.base}${path}`);
    const why = `code ${envelope.code}${envelope.msg ? `: ${envelope.msg}` : ''}`;
    switch (classifyEnvelope(envelope.code, envelope.msg, this.rules)) {
      case 'ok':
        return { kind: 'ok', data: envelope.data };
      case 'rate_limit':
        return { kind: 'too-frequent', why };
      case 'auth':
        return { kind: 'refused', why };
      case 'transient':
        return {
          kind: 'transient',
          error: new SchedulerError('UPSTREAM_HTTP', `POST ${this.base}${path} answered ${why}`),
        };
      case 'permanent':
        throw new PermanentError(
          `POST ${this.base}${path} answered ${why}`,
          { details: { xmp_code: envelope.code } },
          'UPSTREAM_HTTP',
        );
    }
  }

  private refusal(path: string, why: string, afterRelogin: boolean): Error {
    if (this.auth.style === 'signed') {
      return new PermanentError(
        `XMP refused the signature for account ${this.account} on POST ${this.base}${path} (${why}): check the client_id/client_secret pair and that Open API permission is enabled for it`,
        {},
        'TOKEN_REFUSED',
      );
    }
    // Refused again right after a fresh login: someone else (a person in the web console?) keeps logging
    // in with this account. Another attempt later may work, so this is not a permanent failure.
    return new SchedulerError(
      'TOKEN_REFUSED',
      `XMP refused ${afterRelogin ? 'even a freshly obtained' : 'the'} token of account ${this.account} on POST ${this.base}${path} (${why}); if someone else logs in with this account, give the collectors a dedicated one`,
    );
  }
}

function parseEnvelope(body: Buffer, url: string): Envelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = null;
  }
  if (parsed === null || typeof parsed !== 'object' || typeof (parsed as Envelope).code !== 'number') {
    throw new PermanentError(
      `POST ${url} did not answer XMP's {code, msg, data} envelope: "${excerpt(body, 120)}"`,
      {},
      'UPSTREAM_INVALID',
    );
  }
  return parsed as Envelope;
}
