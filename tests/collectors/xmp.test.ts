import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { xmp } from '../../collectors/xmp';
import { reportDays } from '../../collectors/xmp/dates';
import { PermanentError } from '../../src/runtime/errors';
import { tempDirs } from '../support/temp';
import { classifyEnvelope } from '../../collectors/xmp/client';
import {
  RATE_LIMIT_WORDINGS,
  startXmpUpstream,
  XMP_CONSOLE_REPORT_PATH,
  XMP_LOGIN_PATH,
  type XmpUpstream,
  type XmpUpstreamOptions,
} from '../support/upstreams/xmp';
import { allText, makeHarness, verifyManifest, type Harness } from './harness';

const CLIENT_ID = 'xmp-client-42';
const CLIENT_SECRET = 'xmp-client-secret-9b8c7d6e';
const USERNAME = 'collector@example.com';
const PASSWORD = 'xmp-password-1f2e3d4c';
const SIGNED_ENV = { XMP_CLIENT_ID: CLIENT_ID, XMP_CLIENT_SECRET: CLIENT_SECRET };
const LOGIN_ENV = { XMP_USERNAME: USERNAME, XMP_PASSWORD: PASSWORD };

const temp = tempDirs();
let upstream: XmpUpstream | null = null;

afterEach(async () => {
  await upstream?.close();
  upstream = null;
  temp.cleanup();
});

async function setup(options: XmpUpstreamOptions = {}): Promise<{ up: XmpUpstream; h: Harness }> {
  const h = makeHarness(temp.make('xmp'));
  upstream = await startXmpUpstream({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    username: USERNAME,
    password: PASSWORD,
    clock: h.clock,
    ...options,
  });
  return { up: upstream, h };
}

const signed = (up: XmpUpstream, extra: Record<string, unknown> = {}) => ({
  base_url: up.baseUrl,
  page_size: 5,
  ...extra,
});
const login = (
  up: XmpUpstream,
  extra: Record<string, unknown> = {},
  consoleExtra: Record<string, unknown> = {},
) => ({
  auth: 'login',
  page_size: 5,
  console: { login_url: up.loginUrl, api_base: up.consoleBase, ...consoleExtra },
  ...extra,
});
const FIELDS = '/v1/media/report/fields';

const lines = (buf: Buffer | null) =>
  (buf ?? Buffer.alloc(0))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('xmp report days', () => {
  // 2026-11-22T02:00Z is still the 21st in Los Angeles and already the 22nd in Shanghai.
  it.each([
    ['realtime', 'UTC', ['2026-11-21', '2026-11-22']],
    ['realtime', 'America/Los_Angeles', ['2026-11-20', '2026-11-21']],
    ['realtime', 'Asia/Shanghai', ['2026-11-21', '2026-11-22']],
    ['daily', 'UTC', ['2026-11-21']],
    ['daily', 'America/Los_Angeles', ['2026-11-20']],
  ] as const)('%s in %s', (mode, tz, days) => {
    expect(reportDays(mode, new Date('2026-11-22T02:00:00Z'), tz, 2)).toEqual(days);
  });
});

describe('xmp collector, signed Open API', () => {
  it('pulls today and yesterday of every report as NDJSON per (report, day), signed, paged', async () => {
    const { up, h } = await setup();
    const { record, httpStatus } = await h.run(xmp, signed(up), { env: SIGNED_ENV });

    expect(httpStatus).toBe(200);
    expect(record.error).toBeNull();
    expect(record.status).toBe('success');
    await verifyManifest(h.raw, 'xmp', record.manifest!);
    expect(record.manifest!.objects.map((o) => [o.key, o.records])).toEqual([
      ['xmp/ad_report/2026-11-21.ndjson', 3],
      ['xmp/ad_report/2026-11-22.ndjson', 3],
      ['xmp/creative_report/2026-11-21.ndjson', 7],
      ['xmp/creative_report/2026-11-22.ndjson', 7],
      ['xmp/creative_library/2026-11-21.ndjson', 4],
      ['xmp/creative_library/2026-11-22.ndjson', 4],
    ]);
    const ads = lines(await h.readRaw('xmp', 'xmp/ad_report/2026-11-22.ndjson'));
    expect(ads.map((r) => [r['date'], r['geo']])).toEqual([
      ['2026-11-22', 'US'],
      ['2026-11-22', 'FR'],
      ['2026-11-22', 'JP'],
    ]);
    expect(record.result).toMatchObject({
      records: 28,
      // 8 report pages and the two metric lists (ad, material).
      summary: { mode: 'realtime', auth: 'signed', requests: 10, currency: 'USD' },
      units: { total: 6, succeeded: 6, failed: 0 },
    });

    // Every call is signed with a timestamp of the run's clock; every report is paged.
    const ts = Math.floor(h.clock.now() / 1000);
    expect(up.calls.every((c) => c.outcome === 'ok' && c.auth === 'signed')).toBe(true);
    expect(up.calls.filter((c) => c.path === FIELDS).map((c) => c.body['report_type'])).toEqual([
      'ad',
      'material',
    ]);
    const ad = up.calls.find((c) => c.path === '/v2/media/account/report')!;
    expect(ad.body).toMatchObject({
      client_id: CLIENT_ID,
      timestamp: ts,
      sign: createHash('md5').update(`${CLIENT_SECRET}${ts}`).digest('hex'),
      start_date: '2026-11-21',
      end_date: '2026-11-21',
      metrics: ['impression', 'click', 'install', 'cost'],
      currency: 'USD',
      page: 1,
      page_size: 5,
    });
    // One currency, whatever the ad accounts' own: totals add up.
    expect(new Set(ads.map((r) => r['currency']))).toEqual(new Set(['USD']));
    const creative = up.calls.filter((c) => c.path === '/v2/media/material_report/list');
    expect(creative.map((c) => [c.body['start_date'], c.body['page'], c.body['page_size']])).toEqual([
      ['2026-11-21', 1, 5],
      ['2026-11-21', 2, 5],
      ['2026-11-22', 1, 5],
      ['2026-11-22', 2, 5],
    ]);
    expect(creative[0]!.body['cost_currency']).toBe('usd');
  });

  it('pulls only T-1 of the account time zone in daily mode', async () => {
    const { up, h } = await setup();
    const { record } = await h.run(xmp, signed(up, { mode: 'daily', timezone: 'America/Los_Angeles' }), {
      env: SIGNED_ENV,
    });
    expect(record.status).toBe('success');
    expect(record.manifest!.objects.map((o) => o.key)).toEqual([
      'xmp/ad_report/2026-11-20.ndjson',
      'xmp/creative_report/2026-11-20.ndjson',
      'xmp/creative_library/2026-11-20.ndjson',
    ]);
  });

  it('overwrites the same objects when the same window is pulled again, never adding any', async () => {
    const { up, h } = await setup();
    const first = await h.run(xmp, signed(up), { env: SIGNED_ENV });
    const keys = await h.rawKeys('xmp');
    const before = await h.readRaw('xmp', 'xmp/creative_report/2026-11-22.ndjson');
    h.clock.advance(30 * 60_000);
    const again = await h.run(xmp, signed(up), { env: SIGNED_ENV, attempt: 2 });
    expect(again.record.status).toBe('success');
    expect(await h.rawKeys('xmp')).toEqual(keys);
    expect(await h.readRaw('xmp', 'xmp/creative_report/2026-11-22.ndjson')).toEqual(before);
    expect(again.record.manifest!.objects).toEqual(first.record.manifest!.objects);
  });

  it('keeps to 10 requests a minute, one budget for all runs of the account in the process', async () => {
    const { up, h } = await setup();
    const t0 = h.clock.now();
    // 10 requests for the realtime run and 4 for the daily one (the metric lists are known by then).
    const [realtime, daily] = await Promise.all([
      h.run(xmp, signed(up), { env: SIGNED_ENV }),
      h.run(xmp, signed(up, { mode: 'daily' }), {
        env: SIGNED_ENV,
        executionId: 'exec-daily',
        scheduledTime: '2026-11-22T02:05:00.000Z',
      }),
    ]);
    expect([realtime.record.status, daily.record.status]).toEqual(['success', 'success']);
    expect(up.calls).toHaveLength(14);
    expect(up.calls.filter((c) => c.path === FIELDS)).toHaveLength(2);
    expect(up.rateLimited).toBe(0);
    expect(h.clock.now() - t0).toBeGreaterThanOrEqual(60_000);
  });

  it.each(RATE_LIMIT_WORDINGS)(
    'waits a minute and retries when XMP answers a rate limit worded "%s"',
    async (msg) => {
      const { up, h } = await setup({ rateLimit: { code: 1006, msg } });
      up.faults.inject(
        { kind: 'status', status: 200, body: JSON.stringify({ code: 2001, msg }) },
        { match: /account\/report/ },
      );
      const t0 = h.clock.now();
      const { record } = await h.run(xmp, signed(up, { reports: ['ad_report'], check_metrics: false }), {
        env: SIGNED_ENV,
      });
      expect(record.error).toBeNull();
      expect(record.status).toBe('success');
      expect(h.clock.now() - t0).toBeGreaterThanOrEqual(60_000);
      expect(record.result?.summary).toMatchObject({ requests: 3 });
    },
  );

  it('waits out the server’s own rate limit too (more runs than the budget allows, no limiter shared)', async () => {
    const { up, h } = await setup({ rateLimit: { code: 1006, msg: '请求太频繁' } });
    // The collector is told 20 a minute; the server allows 10.
    const { record } = await h.run(xmp, signed(up, { requests_per_minute: 20, realtime_days: 3 }), {
      env: SIGNED_ENV,
    });
    expect(record.status).toBe('success');
    expect(up.rateLimited).toBeGreaterThan(0);
    expect(record.result?.records).toBe(42);
  });

  it('isolates a day that fails: the other days and reports are stored, the failure is recorded', async () => {
    const { up, h } = await setup();
    up.faults.inject(
      {
        kind: 'status',
        status: 200,
        body: JSON.stringify({ code: 10010, msg: 'dimension "geo" is not available for this module' }),
      },
      { match: /account\/report/ },
    );
    const { record, httpStatus } = await h.run(xmp, signed(up), { env: SIGNED_ENV });
    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key)).not.toContain('xmp/ad_report/2026-11-21.ndjson');
    expect(record.manifest?.objects).toHaveLength(5);
    expect(record.manifest?.units).toMatchObject({
      failed: 1,
      failures: [
        {
          unit: 'ad_report 2026-11-21',
          retryable: false,
          error: expect.stringContaining('code 10010: dimension "geo"'),
        },
      ],
    });
    // Not retried: a code XMP does not say is passing.
    expect(up.server.requests.filter((r) => r.path === '/v2/media/account/report')).toHaveLength(2);
  });

  it('pulls a day that failed again in the next run (daily mode)', async () => {
    const { up, h } = await setup();
    up.faults.inject({ kind: 'status', status: 503 }, { times: 4, match: /account\/report/ });
    const options = signed(up, { mode: 'daily', reports: ['ad_report'] });
    const first = await h.run(xmp, options, { env: SIGNED_ENV, scheduledTime: '2026-11-22T01:00:00Z' });
    expect(first.record.status).toBe('failed');
    expect(first.record.retryable).toBe(true);
    const next = await h.run(xmp, options, {
      env: SIGNED_ENV,
      scheduledTime: '2026-11-23T01:00:00Z',
      executionId: 'exec-2',
    });
    expect(next.record.status).toBe('success');
    expect(next.record.manifest?.objects.map((o) => o.key)).toEqual([
      'xmp/ad_report/2026-11-21.ndjson',
      'xmp/ad_report/2026-11-22.ndjson',
    ]);
  });

  it('checks metric names against /v1/media/report/fields, once per account and day, naming unknown ones', async () => {
    const { up, h } = await setup();
    const options = signed(up, {
      metrics: ['impression', 'clicks', 'ipm'],
      reports: ['ad_report', 'creative_report'],
    });
    const { record } = await h.run(xmp, options, { env: SIGNED_ENV });
    expect(record.status).toBe('success');
    expect(record.manifest?.units).toMatchObject({ failed: 2, succeeded: 2 });
    const failure = record.manifest!.units!.failures[0]!;
    expect(failure).toMatchObject({ unit: 'ad_report 2026-11-21', retryable: false });
    expect(failure.error).toBe(
      'options.metrics: "clicks" (did you mean "click"?), "ipm" (did you mean "cpm"?) are not metrics XMP offers for report_type ad (/v1/media/report/fields)',
    );
    // No ad report was asked for with the bad metrics; the creative report went on.
    expect(up.calls.filter((c) => c.path === '/v2/media/account/report')).toHaveLength(0);

    h.clock.advance(30 * 60_000);
    await h.run(xmp, options, { env: SIGNED_ENV, executionId: 'exec-2' });
    expect(up.calls.filter((c) => c.path === FIELDS)).toHaveLength(2);
    h.clock.advance(24 * 3_600_000);
    await h.run(xmp, options, {
      env: SIGNED_ENV,
      executionId: 'exec-3',
      scheduledTime: '2026-11-23T02:30:00.000Z',
    });
    expect(up.calls.filter((c) => c.path === FIELDS)).toHaveLength(4);
  });

  it('sends the currency option to both reports, upper case to the ad report, lower case to the creative one', async () => {
    const { up, h } = await setup();
    await h.run(xmp, signed(up, { currency: 'eur', mode: 'daily' }), { env: SIGNED_ENV });
    expect(up.calls.find((c) => c.path === '/v2/media/account/report')!.body['currency']).toBe('EUR');
    expect(up.calls.find((c) => c.path === '/v2/media/material_report/list')!.body['cost_currency']).toBe(
      'eur',
    );
  });

  it('pulls the creative library by update date when asked', async () => {
    const { up, h } = await setup();
    const { record } = await h.run(
      xmp,
      signed(up, { reports: ['creative_library'], library_date: 'updated', mode: 'daily' }),
      {
        env: SIGNED_ENV,
      },
    );
    expect(record.status).toBe('success');
    const call = up.calls.find((c) => c.path === '/v2/media/material/list')!;
    expect(call.body).toMatchObject({ start_date_up: '2026-11-21', end_date_up: '2026-11-21' });
    expect(call.body).not.toHaveProperty('start_date');
    const rows = lines(await h.readRaw('xmp', 'xmp/creative_library/2026-11-21.ndjson'));
    expect(rows.map((r) => r['updated_at'])).toEqual(['2026-11-21 15:00:00', '2026-11-21 15:01:00']);
  });

  it('retries an envelope code 5xx and an HTTP 503 with backoff', async () => {
    const { up, h } = await setup();
    up.faults
      .inject({ kind: 'status', status: 200, body: JSON.stringify({ code: 500, msg: 'busy' }) })
      .inject({ kind: 'status', status: 503 });
    const { record } = await h.run(
      xmp,
      signed(up, { reports: ['ad_report'], mode: 'daily', check_metrics: false }),
      {
        env: SIGNED_ENV,
      },
    );
    expect(record.status).toBe('success');
    expect(up.faults.applied).toHaveLength(2);
    expect(up.calls.filter((c) => c.outcome === 'ok')).toHaveLength(1);
  });

  it('fails permanently, without retrying, when the signature is refused', async () => {
    const { up, h } = await setup({ clientSecret: 'another-secret-entirely' });
    const { record } = await h.run(xmp, signed(up), { env: SIGNED_ENV });
    expect(record).toMatchObject({ status: 'failed', retryable: false });
    expect(record.error).toContain('refused the signature');
    expect(up.calls).toHaveLength(1);
    expect(record.error).not.toContain(CLIENT_SECRET);
  });

  it.each([
    ['signed', {}, 'environment variable XMP_CLIENT_ID and environment variable XMP_CLIENT_SECRET'],
    ['login', LOGIN_ENV, 'secret projects/p/secrets/xmp-password/versions/latest'],
  ] as const)('is skipped with missing_credentials (%s) and calls nothing', async (auth, env, where) => {
    const { up, h } = await setup();
    const options =
      auth === 'signed'
        ? signed(up)
        : login(up, { password_secret: 'projects/p/secrets/xmp-password/versions/latest' });
    const { record, httpStatus } = await h.run(xmp, options, { env });
    expect(httpStatus).toBe(200);
    expect(record).toMatchObject({ status: 'skipped', reason: 'missing_credentials' });
    expect(record.error).toContain(where);
    expect(up.server.requests).toHaveLength(0);
  });
});

describe('xmp envelope codes', () => {
  const rules = { successCodes: [0], rateLimitCodes: [429], authErrorCodes: [401, 403] };
  it.each([
    [0, 'success', 'ok'],
    [200, 'success', 'permanent'],
    [1006, 'Request Too Frequent', 'rate_limit'],
    [2001, 'Too Many Requests', 'rate_limit'],
    [2001, 'request too often', 'rate_limit'],
    [2001, 'request is too frequent', 'rate_limit'],
    [2001, '请求太频繁', 'rate_limit'],
    [429, '', 'rate_limit'],
    [401, 'whatever', 'auth'],
    [10001, 'sign error', 'auth'],
    [10002, 'token expired', 'auth'],
    [10003, 'no Open API permission', 'auth'],
    [503, 'busy', 'transient'],
    [10004, 'interface timeout', 'transient'],
    [10010, 'metric "ipm" is not available', 'permanent'],
    [-1, 'unknown', 'permanent'],
  ] as const)('code %d "%s" is %s', (code, msg, expected) => {
    expect(classifyEnvelope(code, msg, rules)).toBe(expected);
  });
});

describe('xmp collector, console login through the token broker (unconfirmed API, off by default)', () => {
  it('logs in once and shares the token with the next runs of the account', async () => {
    const { up, h } = await setup({ tokenTtlMs: 6 * 3_600_000 });
    const first = await h.run(xmp, login(up), { env: LOGIN_ENV });
    h.clock.advance(30 * 60_000);
    const daily = await h.run(xmp, login(up, { mode: 'daily' }), {
      env: LOGIN_ENV,
      executionId: 'exec-daily',
      scheduledTime: '2026-11-22T02:30:00.000Z',
    });
    expect([first.record.status, daily.record.status]).toEqual(['success', 'success']);
    expect(up.logins).toBe(1);
    expect(up.staleTokenRequests).toBe(0);
    // Only the console API is called with the token: never the signed Open API paths.
    expect(
      up.calls.every((c) => c.path === XMP_CONSOLE_REPORT_PATH && c.auth === 'token' && c.outcome === 'ok'),
    ).toBe(true);
    expect(up.calls[0]!.body).toMatchObject({
      level: 'campaign',
      start_time: '2026-11-21',
      end_time: '2026-11-21',
      field: ['impression', 'click', 'install', 'cost'],
      group_by: ['date', 'geo', 'campaign_id', 'campaign_name'],
      page: 1,
      page_size: 5,
    });
    expect(first.record.result?.summary).toMatchObject({ auth: 'login', logins: 1 });
    expect(daily.record.result?.summary).toMatchObject({ logins: 0 });
    const tokenObject = await h.state.get('tokens/xmp.json');
    expect(JSON.parse(tokenObject!.data.toString('utf8'))).toMatchObject({
      account: 'xmp',
      token: up.currentToken(),
      logins: 1,
    });
  });

  it.each(['envelope', 'http'] as const)(
    'logs in again once when a token is refused after its expiry (%s refusal), and retries once',
    async (refusal) => {
      // XMP expires the token after 30 min; the collector was told it lives 2 h.
      const { up, h } = await setup({ tokenTtlMs: 30 * 60_000, refusal });
      const options = login(up, {}, { token_lifetime_seconds: 7200 });
      expect((await h.run(xmp, options, { env: LOGIN_ENV })).record.status).toBe('success');
      h.clock.advance(60 * 60_000);
      const { record } = await h.run(xmp, options, { env: LOGIN_ENV, executionId: 'exec-2' });
      expect(record.error).toBeNull();
      expect(record.status).toBe('success');
      expect(up.logins).toBe(2);
      expect(up.expiredTokenRequests).toBe(1);
      expect(up.staleTokenRequests).toBe(0);
      expect(record.result?.summary).toMatchObject({ logins: 1, requests: 3 });
    },
  );

  it('fails (retryably) when even the fresh token is refused, after exactly one re-login', async () => {
    const { up, h } = await setup();
    up.faults.inject(
      { kind: 'status', status: 200, body: JSON.stringify({ code: 401, msg: 'token invalid' }) },
      { match: /admanage/, times: 2 },
    );
    const { record, httpStatus } = await h.run(xmp, login(up, { mode: 'daily' }), {
      env: LOGIN_ENV,
    });
    expect(record).toMatchObject({ status: 'failed', retryable: true });
    expect(httpStatus).toBe(503);
    expect(record.error).toContain('even a freshly obtained token');
    expect(up.logins).toBe(2);
  });

  it('logs in outside the budget slot of the request that needs the token (no deadlock at 1 a minute)', async () => {
    const { up, h } = await setup({ requestsPerMinute: 1 });
    const t0 = h.clock.now();
    const { record } = await h.run(xmp, login(up, { requests_per_minute: 1, mode: 'daily' }), {
      env: LOGIN_ENV,
    });
    expect(record.status).toBe('success');
    expect(up.logins).toBe(1);
    // The login took the minute's only request; the report waited for the next minute.
    expect(h.clock.now() - t0).toBe(60_000);
    expect(up.rateLimited).toBe(0);
  });

  it('reads the token lifetime from the login answer when told where it is', async () => {
    const { up, h } = await setup({ tokenTtlMs: 2 * 3_600_000, announceExpiry: true });
    await h.run(xmp, login(up, {}, { expires_in_field: 'data.expires_in' }), {
      env: LOGIN_ENV,
    });
    const stored = JSON.parse((await h.state.get('tokens/xmp.json'))!.data.toString('utf8')) as {
      expires_at: string;
    };
    expect(stored.expires_at).toBe(
      new Date(Date.parse('2026-11-22T02:00:00Z') + 2 * 3_600_000).toISOString(),
    );
  });

  it('fails permanently with the login refusal, naming where the credentials came from', async () => {
    const { up, h } = await setup({ password: 'the-real-password-0000' });
    const { record } = await h.run(xmp, login(up), { env: LOGIN_ENV });
    expect(record).toMatchObject({ status: 'failed', retryable: false });
    expect(record.error).toContain(
      'code 40001 (wrong username or password); check XMP_USERNAME and XMP_PASSWORD',
    );
    expect(up.calls).toHaveLength(0);
  });

  it('tries a busy login again rather than taking it for wrong credentials', async () => {
    const { up, h } = await setup();
    up.faults.inject(
      { kind: 'status', status: 200, body: JSON.stringify({ code: 1006, msg: 'Request Too Frequent' }) },
      { match: new RegExp(XMP_LOGIN_PATH) },
    );
    const { record } = await h.run(xmp, login(up), { env: LOGIN_ENV });
    expect(record.status).toBe('success');
    expect(up.faults.applied).toHaveLength(1);
    expect(up.logins).toBe(1);
  });

  it('keeps the password and the token out of raw data, logs, run records and every state object but the token', async () => {
    const { up, h } = await setup();
    up.faults.inject(
      { kind: 'status', status: 200, body: JSON.stringify({ code: 401, msg: 'token invalid' }) },
      { match: /admanage/ },
    );
    const { record } = await h.run(xmp, login(up), { env: LOGIN_ENV });
    expect(record.status).toBe('success');
    const token = up.currentToken()!;
    const raw = await allText(path.join(h.dir, 'raw'));
    const state = await allText(path.join(h.dir, 'state'));
    const logs = JSON.stringify(h.logs);
    for (const text of [raw, logs, JSON.stringify(record)]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(token);
    }
    expect(state).not.toContain(PASSWORD);
    const outsideTokenObject = state.split(/\n(?=\/)/).filter((part) => !part.includes('/tokens/xmp.json'));
    expect(outsideTokenObject.join('\n')).not.toContain(token);
    expect(state).toContain(token);
  });

  it('refuses auth: login without its console settings, and creative reports through it, naming the option', () => {
    expect(() => xmp.parseOptions({ auth: 'login' })).toThrow(PermanentError);
    expect(() => xmp.parseOptions({ auth: 'login' })).toThrow(/options\.console: required with auth: login/);
    expect(() =>
      xmp.parseOptions({
        auth: 'login',
        console: { login_url: 'https://xmp.example/login' },
        reports: ['creative_report'],
      }),
    ).toThrow(/options\.reports: only ad_report is pulled through the console API/);
    expect(() => xmp.parseOptions({ auth: 'login', console: { login_url: 'file:///etc/passwd' } })).toThrow(
      /options\.console\.login_url: is not an http\(s\) URL/,
    );
    expect(
      xmp.parseOptions({ auth: 'login', console: { login_url: 'https://xmp.example/login' } }).reports,
    ).toEqual(['ad_report']);
  });
});
