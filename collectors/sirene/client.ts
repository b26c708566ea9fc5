import type { RetryPolicy } from '../../src/config/types';
import { PermanentError, UpstreamHttpError } from '../../src/runtime/errors';
import { getJson, type UpstreamDeps } from '../../src/runtime/upstream';
import type { Clock } from '../../src/util/clock';

/**
 * API Sirene 3.11 over HTTP: every request (retries included) waits for its slot in the per-minute
 * budget, on the injected clock; the key travels only in the `X-INSEE-Api-Key-Integration` header.
 */

/** Retries for API Sirene: 429 and 5xx are retried with backoff (or Retry-After), 5 attempts in all. */
export const SIRENE_RETRY: RetryPolicy = { attempts: 5, minBackoffSeconds: 2, maxBackoffSeconds: 60 };

/** INSEE's own R client waits 10 s after a 429; we do the same when no Retry-After says otherwise. */
export const BARE_429_PAUSE_MS = 10_000;

export interface SireneHeader {
  statut: number;
  message: string;
  total: number;
  debut: number;
  nombre: number;
  curseur: string;
  curseurSuivant: string;
}

export interface Etablissement {
  siret: string;
  dateDernierTraitementEtablissement?: string | null;
  [field: string]: unknown;
}

export interface SirenePage {
  header: SireneHeader;
  etablissements: Etablissement[];
}

/** Spaces request starts at least `intervalMs` apart on `clock`, and can be told to hold off longer. */
export class Pacer {
  private nextAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  async wait(signal: AbortSignal): Promise<void> {
    const delay = this.nextAt - this.clock.now();
    if (delay > 0) await this.clock.sleep(delay, signal);
    this.nextAt = this.clock.now() + this.intervalMs;
  }

  /** No request before `ms` from now (after a 429 that gave no Retry-After). */
  holdOff(ms: number): void {
    this.nextAt = Math.max(this.nextAt, this.clock.now() + ms);
  }
}

/** Names of the gateway's rate-limit headers (unconfirmed for API Sirene: configurable). */
export interface RateLimitHeaders {
  remaining: string;
  reset: string;
}

/** Past this a reset header is a Unix time, not a number of seconds from now. */
const UNIX_TIME_FLOOR = 1_000_000_000;

/**
 * How long the rate-limit headers say to wait before the next request: until the reset when none is
 * remaining, else nothing. Null when they do not say (absent or unreadable).
 */
export function rateLimitWaitMs(headers: Headers, names: RateLimitHeaders, nowMs: number): number | null {
  const remaining = Number(headers.get(names.remaining));
  const resetText = headers.get(names.reset);
  if (!headers.has(names.remaining) || !Number.isFinite(remaining) || remaining > 0 || resetText === null)
    return null;
  const reset = Number(resetText);
  if (!Number.isFinite(reset) || reset < 0) return null;
  return reset >= UNIX_TIME_FLOOR ? Math.max(0, reset * 1000 - nowMs) : reset * 1000;
}

export class SireneClient {
  /** Requests sent, retries included (what the budget counts). */
  requests = 0;
  private readonly deps: UpstreamDeps;

  constructor(
    deps: UpstreamDeps,
    private readonly base: string,
    private readonly key: string,
    private readonly keySource: string,
    requestsPerMinute: number,
    headers: RateLimitHeaders = { remaining: 'x-ratelimit-remaining', reset: 'x-ratelimit-reset' },
  ) {
    const pacer = new Pacer(deps.clock, Math.ceil(60_000 / requestsPerMinute));
    const paced: typeof fetch = async (input, init) => {
      await pacer.wait(deps.signal);
      this.requests++;
      const response = await deps.fetch(input, init);
      // The gateway's own count wins over ours: another client may share the key's budget.
      const wait = rateLimitWaitMs(response.headers, headers, deps.clock.now());
      if (wait !== null) pacer.holdOff(wait);
      else if (response.status === 429 && !response.headers.has('retry-after'))
        pacer.holdOff(BARE_429_PAUSE_MS);
      return response;
    };
    this.deps = { ...deps, fetch: paced };
  }

  /**
   * When INSEE last made new établissement data available (`GET /informations`), or null when the
   * service does not say. Only an optimisation: any failure but cancellation yields null.
   */
  async lastPublication(): Promise<string | null> {
    try {
      const info = await this.get<{
        datesDernieresMisesAJourDesDonnees?: { collection?: string; dateDerniereMiseADisposition?: string }[];
      }>(`${this.base}/informations`, { attempts: 2, minBackoffSeconds: 2, maxBackoffSeconds: 10 });
      const entry = info.datesDernieresMisesAJourDesDonnees?.find((d) =>
        /tablissement/i.test(d.collection ?? ''),
      );
      return entry?.dateDerniereMiseADisposition ?? null;
    } catch (error) {
      if (this.deps.signal.aborted || error instanceof PermanentError) throw error;
      this.deps.log.warn('API Sirene /informations unavailable; sweeping without the freshness check', {
        error: (error as Error).message,
      });
      return null;
    }
  }

  /** One page of établissements matching `q`, sorted by `tri`; null when the search matches nothing (404). */
  async searchPage(params: {
    q: string;
    tri: string;
    pageSize: number;
    cursor: string;
  }): Promise<SirenePage | null> {
    const query = [
      ['q', params.q],
      ['tri', params.tri],
      ['nombre', String(params.pageSize)],
      ['curseur', params.cursor],
    ]
      .map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`)
      .join('&');
    const url = `${this.base}/siret?${query}`;
    let page: Partial<SirenePage>;
    try {
      page = await this.get<Partial<SirenePage>>(url, SIRENE_RETRY);
    } catch (error) {
      // API Sirene answers a search with no match with 404, not with an empty page.
      if (error instanceof UpstreamHttpError && error.status === 404) return null;
      throw error;
    }
    if (
      !page.header ||
      typeof page.header.curseurSuivant !== 'string' ||
      !Array.isArray(page.etablissements)
    ) {
      throw new PermanentError(
        `GET ${this.base}/siret answered JSON without header.curseurSuivant and etablissements[]`,
        {},
        'UPSTREAM_INVALID',
      );
    }
    return page as SirenePage;
  }

  private async get<T>(url: string, retry: RetryPolicy): Promise<T> {
    try {
      return await getJson<T>(this.deps, url, {
        headers: { 'X-INSEE-Api-Key-Integration': this.key },
        retry,
      });
    } catch (error) {
      if (error instanceof UpstreamHttpError && (error.status === 401 || error.status === 403)) {
        throw new PermanentError(
          `API Sirene refused the key from ${this.keySource} (${error.status}): check that it is a portail-api.insee.fr key subscribed to API Sirene 3.11`,
          { cause: error, details: { status: error.status } },
        );
      }
      throw error;
    }
  }
}
