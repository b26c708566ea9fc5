import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Clock } from '../../../src/util/clock';
import { json, startServer, type TestServer } from '../http';
import { Faults } from './faults';
import { adRows, creativeRows, libraryRows, type XmpData } from './xmp-data';

/**
 * A loopback XMP (upstreams.md §5): the Open API's three report endpoints answering the
 * `{code, msg, data}` envelope (HTTP 200 even for application errors), the signed auth (client_id,
 * timestamp valid 30 s, sign = md5(client_secret + timestamp)), and an account login whose every new
 * token invalidates all earlier tokens of the account: the behaviour behind the outage. It counts every
 * login and every request made with a token a later login killed, limits requests per sliding minute
 * ("Request Too Frequent"), and pages creative lists with page/page_size.
 */

export const XMP_LOGIN_PATH = '/auth/login';

export interface XmpUpstreamOptions {
  clientId?: string;
  clientSecret?: string;
  username?: string;
  password?: string;
  loginPath?: string;
  /** Server-side lifetime of a login token (default 1 h); null: tokens never expire. */
  tokenTtlMs?: number | null;
  /** Whether the login answer says `data.expires_in` (seconds). */
  announceExpiry?: boolean;
  /** Requests per sliding minute on the report endpoints (default 10); null: unlimited. */
  requestsPerMinute?: number | null;
  /** How a refused token or signature is answered: envelope code 401 in HTTP 200 (default), or HTTP 401. */
  refusal?: 'envelope' | 'http';
  /** The server's clock (timestamps, expiry, rate window); default the system clock. */
  clock?: Clock;
  data?: Partial<XmpData>;
}

export interface XmpCall {
  path: string;
  auth: 'signed' | 'token' | 'none';
  outcome: 'ok' | 'refused' | 'too-frequent' | 'invalid';
  body: Record<string, unknown>;
}

export interface XmpUpstream {
  url: string;
  baseUrl: string;
  server: TestServer;
  faults: Faults;
  /** Every report call (logins excluded), in order. */
  calls: XmpCall[];
  /** Successful logins; each killed every token issued before it. */
  logins: number;
  /** Requests with a token a later login had killed: the outage's symptom. Must stay 0. */
  staleTokenRequests: number;
  /** Requests with a token past its server-side lifetime. */
  expiredTokenRequests: number;
  /** Requests with a token this server never issued, or a bad signature. */
  rejectedRequests: number;
  rateLimited: number;
  /** The token the last login issued. */
  currentToken(): string | null;
  close(): Promise<void>;
}

interface Issued {
  expiresAt: number | null;
  killed: boolean;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export async function startXmpUpstream(options: XmpUpstreamOptions = {}): Promise<XmpUpstream> {
  const clock = options.clock ?? { now: () => Date.now() };
  const loginPath = options.loginPath ?? XMP_LOGIN_PATH;
  const ttl = options.tokenTtlMs === undefined ? 3_600_000 : options.tokenTtlMs;
  const limit = options.requestsPerMinute === undefined ? 10 : options.requestsPerMinute;
  const data: XmpData = { adRows, creativeRows, libraryRows, ...options.data };
  const faults = new Faults();
  const tokens = new Map<string, Issued>();
  const window: number[] = [];
  let current: string | null = null;

  const up = {
    calls: [] as XmpCall[],
    logins: 0,
    staleTokenRequests: 0,
    expiredTokenRequests: 0,
    rejectedRequests: 0,
    rateLimited: 0,
  };
  const envelope = (res: ServerResponse, code: number, msg: string, payload?: unknown) =>
    json(res, 200, payload === undefined ? { code, msg } : { code, msg, data: payload });

  const server = await startServer(async (req, res, raw) => {
    if ((await faults.apply(req, res)) !== false) return;
    const path = (req.url ?? '').split('?')[0]!;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return envelope(res, 400, 'request body is not JSON');
    }
    if (req.method !== 'POST') return envelope(res, 405, 'every XMP call is a POST');

    if (path === loginPath) {
      if (body['username'] !== options.username || body['password'] !== options.password || !options.username)
        return envelope(res, 40001, 'wrong username or password');
      // The real behaviour: a new login invalidates every token issued before it.
      for (const issued of tokens.values()) issued.killed = true;
      current = `xmp-session-${randomBytes(12).toString('hex')}`;
      tokens.set(current, { expiresAt: ttl === null ? null : clock.now() + ttl, killed: false });
      up.logins++;
      return envelope(res, 200, 'success', {
        token: current,
        ...(options.announceExpiry && ttl !== null ? { expires_in: Math.floor(ttl / 1000) } : {}),
      });
    }

    const handler = ROUTES[path];
    if (!handler) return envelope(res, 404, `no such API: ${path}`);
    const call: XmpCall = { path, auth: 'none', outcome: 'ok', body };
    up.calls.push(call);
    const refuse = (msg: string) => {
      call.outcome = 'refused';
      if (options.refusal === 'http') return json(res, 401, { code: 401, msg });
      return envelope(res, 401, msg);
    };

    if (typeof body['client_id'] === 'string') {
      call.auth = 'signed';
      const timestamp = Number(body['timestamp']);
      const expected = createHash('md5')
        .update(`${options.clientSecret ?? ''}${timestamp}`)
        .digest('hex');
      if (
        body['client_id'] !== options.clientId ||
        !options.clientSecret ||
        body['sign'] !== expected ||
        Math.abs(clock.now() - timestamp * 1000) > 30_000
      ) {
        up.rejectedRequests++;
        return refuse('sign error');
      }
    } else {
      const header = req.headers['authorization'];
      const token = typeof header === 'string' ? header.replace(/^Bearer /, '') : '';
      call.auth = token ? 'token' : 'none';
      const issued = tokens.get(token);
      if (!issued) {
        up.rejectedRequests++;
        return refuse('token invalid');
      }
      if (issued.killed) {
        up.staleTokenRequests++;
        return refuse('token invalid: logged in elsewhere');
      }
      if (issued.expiresAt !== null && clock.now() >= issued.expiresAt) {
        up.expiredTokenRequests++;
        return refuse('token expired');
      }
    }

    if (limit !== null) {
      const now = clock.now();
      while (window.length > 0 && window[0]! <= now - 60_000) window.shift();
      if (window.length >= limit) {
        up.rateLimited++;
        call.outcome = 'too-frequent';
        return envelope(res, 429, 'Request Too Frequent');
      }
      window.push(now);
    }
    const answer = handler(body, data);
    if ('error' in answer) {
      call.outcome = 'invalid';
      return envelope(res, 400, answer.error);
    }
    return envelope(res, 200, 'success', answer.data);
  });

  return Object.assign(up, {
    url: server.url,
    baseUrl: server.url,
    server,
    faults,
    currentToken: () => current,
    close: () => server.close(),
  });
}

type Answer = { data: unknown } | { error: string };

const ROUTES: Record<string, (body: Record<string, unknown>, data: XmpData) => Answer> = {
  '/v2/media/account/report': (body, data) => {
    const window = dates(body);
    if ('error' in window) return window;
    if (!nonEmptyArray(body['metrics'])) return { error: 'metrics is required' };
    return { data: { list: eachDay(window, data.adRows) } };
  },
  '/v2/media/material_report/list': (body, data) => {
    const window = dates(body);
    if ('error' in window) return window;
    if (window.days > 30) return { error: 'the date span must be at most 30 days' };
    if (!nonEmptyArray(body['metrics'])) return { error: 'metrics is required' };
    if (!['cny', 'usd', 'eur'].includes(String(body['cost_currency'])))
      return { error: 'cost_currency must be cny, usd or eur' };
    return page(body, eachDay(window, data.creativeRows));
  },
  '/v2/media/material/list': (body, data) => {
    const window = dates(body);
    if ('error' in window) return window;
    if (window.days > 30) return { error: 'the creation date span must be at most 30 days' };
    return page(body, eachDay(window, data.libraryRows));
  },
};

function dates(body: Record<string, unknown>): { start: string; days: number } | { error: string } {
  const start = body['start_date'];
  const end = body['end_date'];
  if (typeof start !== 'string' || typeof end !== 'string' || !DAY.test(start) || !DAY.test(end))
    return { error: 'start_date and end_date are required (YYYY-MM-DD)' };
  const days = (Date.parse(end) - Date.parse(start)) / 86_400_000 + 1;
  if (days < 1) return { error: 'end_date is before start_date' };
  return { start, days };
}

function eachDay(window: { start: string; days: number }, rows: (day: string) => unknown[]): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < window.days; i++) {
    out.push(...rows(new Date(Date.parse(window.start) + i * 86_400_000).toISOString().slice(0, 10)));
  }
  return out;
}

function page(body: Record<string, unknown>, rows: unknown[]): Answer {
  const number = body['page'] === undefined ? 1 : Number(body['page']);
  const size = body['page_size'] === undefined ? 200 : Number(body['page_size']);
  if (!Number.isInteger(number) || number < 1) return { error: 'page must be a positive integer' };
  if (!Number.isInteger(size) || size < 1 || size > 1000) return { error: 'page_size must be 1-1000' };
  return { data: { list: rows.slice((number - 1) * size, number * size), page: number, page_size: size } };
}

function nonEmptyArray(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}
