import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Clock } from '../../../src/util/clock';
import { json, startServer, type TestServer } from '../http';
import { Faults } from './faults';
import {
  adRows,
  AVAILABLE_METRICS,
  creativeRows,
  libraryRows,
  libraryUpdatedRows,
  type XmpData,
} from './xmp-data';

/**
 * A loopback XMP: the signed Open API and, beside it, the web console's session API. Format facts:
 * - Open API (help-xmp.mobvista.com "Open API Protocol"): every call a JSON POST carrying `client_id`,
 *   `timestamp` (valid 30 s) and `sign = md5(client_secret + timestamp)`; answers `{code, msg, data}`
 *   under HTTP 200, **`code: 0` for success** (five public clients test `code == 0`; upstreams.md §5).
 *   A bearer token is not how it authenticates: such a call is refused like a bad signature.
 * - No public error-code table: the codes used here for refusals (401) and rate limits (1006) are
 *   UNCONFIRMED; the rate-limit *wording* varies by page ("Request Too Frequent", "Too Many Requests",
 *   "request too often", "request is too frequent"; "请求太频繁" in clients) and is configurable here.
 * - `/v2/media/account/report` (Ad Report page; the v1 copy says pages of 2000 by default): `page`,
 *   `page_size`, and `currency` (USD/CNY/EUR, any case); without it each row keeps its ad account's own
 *   currency.
 * - `/v2/media/material_report/list` (Creative Report page): `cost_currency` cny|usd|eur required, span
 *   ≤ 30 days, `page`/`page_size` 1–1000 (default 200).
 * - `/v2/media/material/list` (Creative Library page): creation dates `start_date`/`end_date`, update
 *   dates `start_date_up`/`end_date_up` (zh v2 doc); one filter required; `data` is a bare array.
 * - `/v1/media/report/fields` with `report_type` ad|material: `data.fields[]` of `{field, title, source}`
 *   (public clients).
 * - Console session API: UNCONFIRMED in every detail. Public console clients log in through the web
 *   console and call `/admanage/channel/summary` with `Authorization: Bearer …` and a body of
 *   `start_time, end_time, field, group_by, page, page_size` (+ `level`); here the login is
 *   `POST /auth/login {username, password}` → `{code: 0, data: {token, expires_in?}}`, and every new
 *   login kills the account's earlier tokens: the behaviour behind the outage.
 * It counts logins, requests made with a killed token, and limits requests per sliding minute.
 */

export const XMP_LOGIN_PATH = '/auth/login';
export const XMP_CONSOLE_REPORT_PATH = '/admanage/channel/summary';
export const RATE_LIMIT_WORDINGS = [
  'Request Too Frequent',
  'Too Many Requests',
  'request too often',
  'request is too frequent',
  '请求太频繁',
] as const;

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
  /** Requests per sliding minute (default 10); null: unlimited. */
  requestsPerMinute?: number | null;
  /** How a rate limit is answered (default code 1006, "Request Too Frequent"). */
  rateLimit?: { code: number; msg: string };
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
  /** The console API's base and login URL (auth: login). */
  consoleBase: string;
  loginUrl: string;
  server: TestServer;
  faults: Faults;
  /** Every API call (logins excluded), in order. */
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
type Answer = { data: unknown } | { error: string };

export async function startXmpUpstream(options: XmpUpstreamOptions = {}): Promise<XmpUpstream> {
  const clock = options.clock ?? { now: () => Date.now() };
  const loginPath = options.loginPath ?? XMP_LOGIN_PATH;
  const ttl = options.tokenTtlMs === undefined ? 3_600_000 : options.tokenTtlMs;
  const limit = options.requestsPerMinute === undefined ? 10 : options.requestsPerMinute;
  const rateLimit = options.rateLimit ?? { code: 1006, msg: 'Request Too Frequent' };
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

  const login = (res: ServerResponse, body: Record<string, unknown>) => {
    if (body['username'] !== options.username || body['password'] !== options.password || !options.username)
      return envelope(res, 40001, 'wrong username or password');
    // The real behaviour: a new login invalidates every token issued before it.
    for (const issued of tokens.values()) issued.killed = true;
    current = `xmp-session-${randomBytes(12).toString('hex')}`;
    tokens.set(current, { expiresAt: ttl === null ? null : clock.now() + ttl, killed: false });
    up.logins++;
    return envelope(res, 0, 'success', {
      token: current,
      ...(options.announceExpiry && ttl !== null ? { expires_in: Math.floor(ttl / 1000) } : {}),
    });
  };

  /** Null when the caller may go on; else the refusal reason. */
  const checkSignature = (body: Record<string, unknown>): string | null => {
    const timestamp = Number(body['timestamp']);
    const expected = createHash('md5')
      .update(`${options.clientSecret ?? ''}${timestamp}`)
      .digest('hex');
    if (typeof body['client_id'] !== 'string')
      return 'sign error: client_id, timestamp and sign are required';
    if (body['client_id'] !== options.clientId || !options.clientSecret || body['sign'] !== expected)
      return 'sign error';
    if (Math.abs(clock.now() - timestamp * 1000) > 30_000) return 'sign error: timestamp expired';
    return null;
  };
  const checkToken = (header: unknown): string | null => {
    const token = typeof header === 'string' ? header.replace(/^Bearer /, '') : '';
    const issued = tokens.get(token);
    if (!issued) return 'token invalid';
    if (issued.killed) {
      up.staleTokenRequests++;
      return 'token invalid: logged in elsewhere';
    }
    if (issued.expiresAt !== null && clock.now() >= issued.expiresAt) {
      up.expiredTokenRequests++;
      return 'token expired';
    }
    return null;
  };
  const overBudget = (): boolean => {
    if (limit === null) return false;
    const now = clock.now();
    while (window.length > 0 && window[0]! <= now - 60_000) window.shift();
    if (window.length >= limit) return true;
    window.push(now);
    return false;
  };

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
    if (path === loginPath) return login(res, body);

    const isConsole = path === XMP_CONSOLE_REPORT_PATH;
    const handler = isConsole ? consoleReport : ROUTES[path];
    if (!handler) return envelope(res, 404, `no such API: ${path}`);
    const call: XmpCall = { path, auth: 'none', outcome: 'ok', body };
    up.calls.push(call);
    call.auth =
      typeof body['client_id'] === 'string' ? 'signed' : req.headers['authorization'] ? 'token' : 'none';
    const refusedWhy = isConsole ? checkToken(req.headers['authorization']) : checkSignature(body);
    if (refusedWhy) {
      if (!/logged in elsewhere|expired/.test(refusedWhy)) up.rejectedRequests++;
      call.outcome = 'refused';
      if (options.refusal === 'http') return json(res, 401, { code: 401, msg: refusedWhy });
      return envelope(res, 401, refusedWhy);
    }
    if (overBudget()) {
      up.rateLimited++;
      call.outcome = 'too-frequent';
      return envelope(res, rateLimit.code, rateLimit.msg);
    }
    const answer = handler(body, data);
    if ('error' in answer) {
      call.outcome = 'invalid';
      return envelope(res, 10010, answer.error);
    }
    return envelope(res, 0, 'success', answer.data);
  });

  return Object.assign(up, {
    url: server.url,
    baseUrl: server.url,
    consoleBase: server.url,
    loginUrl: `${server.url}${loginPath}`,
    server,
    faults,
    currentToken: () => current,
    close: () => server.close(),
  });
}

const ROUTES: Record<string, (body: Record<string, unknown>, data: XmpData) => Answer> = {
  '/v2/media/account/report': (body, data) => {
    const window = dates(body, 'start_date', 'end_date');
    if ('error' in window) return window;
    if (!nonEmptyArray(body['metrics'])) return { error: 'metrics is required' };
    const unknown = (body['metrics'] as unknown[]).filter((m) => !AVAILABLE_METRICS.ad.includes(String(m)));
    if (unknown.length > 0) return { error: `metric ${JSON.stringify(unknown[0])} is not available` };
    const currency = body['currency'] === undefined ? null : String(body['currency']).toUpperCase();
    if (currency !== null && !['USD', 'CNY', 'EUR'].includes(currency))
      return { error: 'currency must be CNY, USD or EUR' };
    const rows = eachDay(window, data.adRows).map((r, i) => withCurrency(r, currency, i));
    return page(body, rows, 2000, false);
  },
  '/v2/media/material_report/list': (body, data) => {
    const window = dates(body, 'start_date', 'end_date');
    if ('error' in window) return window;
    if (window.days > 30) return { error: 'the date span must be at most 30 days' };
    if (!nonEmptyArray(body['metrics'])) return { error: 'metrics is required' };
    if (!['cny', 'usd', 'eur'].includes(String(body['cost_currency'])))
      return { error: 'cost_currency must be cny, usd or eur' };
    return page(body, eachDay(window, data.creativeRows), 200, false);
  },
  '/v2/media/material/list': (body, data) => {
    const byUpdate = body['start_date_up'] !== undefined;
    const window = byUpdate
      ? dates(body, 'start_date_up', 'end_date_up')
      : dates(body, 'start_date', 'end_date');
    if ('error' in window)
      return { error: 'at least one filter besides is_deleted, page and page_size is required' };
    if (window.days > 30) return { error: 'the date span must be at most 30 days' };
    return page(body, eachDay(window, byUpdate ? libraryUpdatedRows : data.libraryRows), 200, true);
  },
  '/v1/media/report/fields': (body) => {
    const type = body['report_type'];
    if (type !== 'ad' && type !== 'material') return { error: 'report_type must be ad or material' };
    return {
      data: {
        fields: AVAILABLE_METRICS[type].map((field) => ({
          field,
          title: field.toUpperCase(),
          source: 'media',
        })),
      },
    };
  },
};

function consoleReport(body: Record<string, unknown>, data: XmpData): Answer {
  const window = dates(body, 'start_time', 'end_time');
  if ('error' in window) return window;
  if (!nonEmptyArray(body['field'])) return { error: 'field is required' };
  return page(body, eachDay(window, data.adRows), 20, false);
}

function withCurrency(row: unknown, currency: string | null, i: number): unknown {
  const r = row as Record<string, unknown>;
  // Without `currency`, each ad account reports in its own: the rows mix them.
  const own = ['USD', 'CNY', 'EUR'][i % 3]!;
  const rate: Record<string, number> = { USD: 1, CNY: 7.2, EUR: 0.92 };
  const shown = currency ?? own;
  return { ...r, currency: shown, cost: +((r['cost'] as number) * rate[shown]!).toFixed(2) };
}

function dates(
  body: Record<string, unknown>,
  startKey: string,
  endKey: string,
): { start: string; days: number } | { error: string } {
  const start = body[startKey];
  const end = body[endKey];
  if (typeof start !== 'string' || typeof end !== 'string' || !DAY.test(start) || !DAY.test(end))
    return { error: `${startKey} and ${endKey} are required (YYYY-MM-DD)` };
  const days = (Date.parse(end) - Date.parse(start)) / 86_400_000 + 1;
  if (days < 1) return { error: `${endKey} is before ${startKey}` };
  return { start, days };
}

function eachDay(window: { start: string; days: number }, rows: (day: string) => unknown[]): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < window.days; i++)
    out.push(...rows(new Date(Date.parse(window.start) + i * 86_400_000).toISOString().slice(0, 10)));
  return out;
}

function page(body: Record<string, unknown>, rows: unknown[], defaultSize: number, bare: boolean): Answer {
  const number = body['page'] === undefined ? 1 : Number(body['page']);
  const size = body['page_size'] === undefined ? defaultSize : Number(body['page_size']);
  if (!Number.isInteger(number) || number < 1) return { error: 'page must be a positive integer' };
  if (!Number.isInteger(size) || size < 1 || size > Math.max(1000, defaultSize))
    return { error: 'page_size must be 1-1000' };
  const list = rows.slice((number - 1) * size, number * size);
  return { data: bare ? list : { list, page: number, page_size: size } };
}

function nonEmptyArray(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}
