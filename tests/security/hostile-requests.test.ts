import { main, type CliIO } from '../../src/cli/main';
import { CollectorRegistry } from '../../src/runtime/registry';
import { serviceAccountClaims, signIdToken, unsignedIdToken } from '../support/google-certs';
import { tempDirs } from '../support/temp';
import {
  OUTSIDER,
  probe,
  SCHEDULER_SA,
  SECRETS,
  startHostileRig,
  storedObjects,
  TASKS_SA,
  VARIANTS,
  type HostileRig,
} from './hostile-rig';

/**
 * Hostile requests against the function (functions-framework's test server, the real function
 * handler), in each deployed shape: incoming `none` (the local default) and `bearer` in HTTP mode,
 * `google-id-token` in Cloud Tasks mode. Each request gets its 4xx JSON answer, nothing runs, and a
 * loopback canary that no config names receives nothing; at the end, no secret value the tests use
 * appears in any answer, log line, CLI line or stored object.
 */

const PAYLOAD = {
  executionId: '20261122T140000Z-hostile1',
  collector: 'probe',
  scheduledTime: '2026-11-22T14:00:00Z',
  attempt: 1,
};
const SECRET_NAME = 'projects/test-project/secrets/db-password/versions/latest';
const REPORT_ID = '20261122T140000Z-aaaaaaaa';

interface BodyRow {
  label: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  message: RegExp;
}

/** Requests from an authenticated caller that try to choose a host, a variable, a secret or a collector. */
function bodyRows(canary: string): BodyRow[] {
  const c = (collector: string) => ({ ...PAYLOAD, collector });
  return [
    {
      label: 'options naming a host, an env var and a secret in the dispatch payload',
      method: 'POST',
      path: '/collectors/probe',
      body: {
        ...PAYLOAD,
        options: { base_url: canary, api_key_env: 'OTHER_SECRET', password_secret: SECRET_NAME },
      },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /options: unknown field/,
    },
    {
      label: 'a url field in the payload',
      method: 'POST',
      path: '/collectors/probe',
      body: { ...PAYLOAD, url: canary },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /url: unknown field/,
    },
    {
      label: 'a base_url field in the payload',
      method: 'POST',
      path: '/collectors/probe',
      body: { ...PAYLOAD, base_url: canary },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /base_url: unknown field/,
    },
    {
      label: '*_env fields in the payload',
      method: 'POST',
      path: '/collectors/probe',
      body: { ...PAYLOAD, username_env: 'OTHER_SECRET', api_key_env: 'OTHER_SECRET' },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /username_env: unknown field.*api_key_env: unknown field/,
    },
    {
      label: 'a *_secret field in the payload',
      method: 'POST',
      path: '/collectors/probe',
      body: { ...PAYLOAD, api_key_secret: SECRET_NAME },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /api_key_secret: unknown field/,
    },
    {
      label: "a host as the payload's collector",
      method: 'POST',
      path: '/collectors/probe',
      body: c(canary),
      status: 400,
      code: 'REQUEST_INVALID',
      message: /posted to \/collectors\/probe/,
    },
    {
      label: 'a host as the collector name in the path',
      method: 'POST',
      path: `/collectors/${canary}`,
      body: c(canary),
      status: 404,
      code: 'COLLECTOR_UNKNOWN',
      message: /no configured, enabled collector/,
    },
    {
      label: 'a built-in collector the config does not list',
      method: 'POST',
      path: '/collectors/dvf',
      body: c('dvf'),
      status: 404,
      code: 'COLLECTOR_UNKNOWN',
      message: /"dvf"/,
    },
    {
      label: 'a configured but disabled collector',
      method: 'POST',
      path: '/collectors/off',
      body: c('off'),
      status: 404,
      code: 'COLLECTOR_UNKNOWN',
      message: /"off"/,
    },
    {
      label: 'an unknown collector',
      method: 'POST',
      path: '/collectors/nope',
      body: c('nope'),
      status: 404,
      code: 'COLLECTOR_UNKNOWN',
      message: /"nope"/,
    },
    {
      label: "a host in a run body's collectors",
      method: 'POST',
      path: '/run',
      body: { collectors: [canary] },
      status: 400,
      code: 'COLLECTOR_UNKNOWN',
      message: /unknown collector/,
    },
    {
      label: 'options in a run body',
      method: 'POST',
      path: '/run',
      body: { collectors: ['probe'], options: { base_url: canary, api_key_env: 'OTHER_SECRET' } },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /options: unknown field/,
    },
    {
      label: 'a url in a run body on POST /',
      method: 'POST',
      path: '/',
      body: { url: canary },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /url: unknown field/,
    },
    {
      label: 'an env var name in a dry-run body',
      method: 'POST',
      path: '/run',
      body: { dryRun: true, api_key_env: 'OTHER_SECRET' },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /api_key_env: unknown field/,
    },
    {
      label: 'a secret name in a forced run body',
      method: 'POST',
      path: '/run',
      body: { collectors: ['probe'], force: true, secret: SECRET_NAME },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /secret: unknown field/,
    },
    {
      label: 'a host as the dispatch mode',
      method: 'POST',
      path: '/run',
      body: { collectors: ['probe'], mode: canary },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /mode: must be one of http, tasks/,
    },
    {
      label: "a host as Cloud Scheduler's schedule time",
      method: 'POST',
      path: '/',
      headers: { 'X-CloudScheduler-ScheduleTime': canary },
      status: 400,
      code: 'REQUEST_INVALID',
      message: /X-CloudScheduler-ScheduleTime/,
    },
    {
      label: 'a file path as a report id',
      method: 'GET',
      path: '/reports/..%2F..%2Fconfig.yaml',
      status: 400,
      code: 'REQUEST_INVALID',
      message: /execution id/,
    },
    {
      label: 'a host as a report id',
      method: 'GET',
      path: `/reports/${canary}`,
      status: 400,
      code: 'REQUEST_INVALID',
      message: /execution id/,
    },
  ];
}

interface AuthRow {
  label: string;
  authorization: (rig: HostileRig) => string | undefined;
  status: 401 | 403;
  /** Why the function refused it, as its log says (the caller is told nothing). */
  reason: RegExp;
}

const hour = 3600;
const now = () => Math.floor(Date.now() / 1000);

const ID_TOKEN_ROWS: AuthRow[] = [
  {
    label: 'no Authorization header',
    authorization: () => undefined,
    status: 401,
    reason: /^no bearer token$/,
  },
  {
    label: 'a valid ID token under the Basic scheme',
    authorization: (r) => `Basic ${r.idToken(r.url, SCHEDULER_SA)}`,
    status: 401,
    reason: /^no bearer token$/,
  },
  {
    label: 'a bearer that is not a JWT',
    authorization: () => 'Bearer not-a-jwt',
    status: 401,
    reason: /not a JWT/,
  },
  {
    label: 'an expired ID token',
    authorization: (r) =>
      `Bearer ${r.idToken(r.url, SCHEDULER_SA, { iat: now() - 2 * hour, exp: now() - hour })}`,
    status: 401,
    reason: /: expired$/,
  },
  {
    label: 'an ID token for another audience',
    authorization: (r) => `Bearer ${r.idToken('https://elsewhere.example/scheduler', SCHEDULER_SA)}`,
    status: 401,
    reason: /wrong audience/,
  },
  {
    label: 'an ID token from another issuer',
    authorization: (r) =>
      `Bearer ${r.idToken(r.url, SCHEDULER_SA, { iss: 'https://issuer.attacker.example' })}`,
    status: 401,
    reason: /wrong issuer/,
  },
  {
    label: 'an unsigned ID token (alg: none)',
    authorization: (r) => `Bearer ${unsignedIdToken(r.key.kid, serviceAccountClaims(r.url, SCHEDULER_SA))}`,
    status: 401,
    reason: /bad signature/,
  },
  {
    label: "an ID token signed by another key under the published key's kid",
    authorization: (r) => `Bearer ${signIdToken(r.rogue, serviceAccountClaims(r.url, SCHEDULER_SA))}`,
    status: 401,
    reason: /bad signature/,
  },
  {
    label: 'an ID token signed by a key Google does not publish',
    authorization: (r) =>
      `Bearer ${signIdToken(r.rogue, serviceAccountClaims(r.url, SCHEDULER_SA), 'attacker-kid')}`,
    status: 401,
    reason: /key Google does not publish/,
  },
  {
    label: 'a valid ID token of an email not in the allow-list',
    authorization: (r) => `Bearer ${r.idToken(r.url, OUTSIDER)}`,
    status: 403,
    reason: /email not in scheduler.incoming_auth.allowed_emails/,
  },
  {
    label: 'a valid ID token of an allowed email that is not verified',
    authorization: (r) => `Bearer ${r.idToken(r.url, SCHEDULER_SA, { email_verified: false })}`,
    status: 403,
    reason: /email not verified/,
  },
];

const BEARER_ROWS: AuthRow[] = [
  {
    label: 'no Authorization header',
    authorization: () => undefined,
    status: 401,
    reason: /^no bearer token$/,
  },
  {
    label: 'a wrong token of the same length',
    authorization: () => `Bearer ${SECRETS.INCOMING_TOKEN.replace(/.$/, 'x')}`,
    status: 401,
    reason: /wrong bearer token/,
  },
  {
    label: 'a wrong, shorter token',
    authorization: () => 'Bearer guess',
    status: 401,
    reason: /wrong bearer token/,
  },
  {
    label: 'the right token under the Basic scheme',
    authorization: () => `Basic ${SECRETS.INCOMING_TOKEN}`,
    status: 401,
    reason: /^no bearer token$/,
  },
  {
    label: 'a Google-signed ID token instead of the shared secret',
    authorization: (r) => `Bearer ${r.idToken(r.url, SCHEDULER_SA)}`,
    status: 401,
    reason: /wrong bearer token/,
  },
];

const AUTH_ROUTES: { method: 'GET' | 'POST' | 'DELETE'; path: string; body?: unknown }[] = [
  { method: 'POST', path: '/run', body: { collectors: ['probe'] } },
  { method: 'POST', path: '/', body: undefined },
  { method: 'POST', path: '/run', body: { collectors: ['probe'], dryRun: true } },
  { method: 'GET', path: '/status' },
  { method: 'GET', path: `/reports/${REPORT_ID}` },
  { method: 'POST', path: '/collectors/probe', body: PAYLOAD },
  { method: 'POST', path: '/collectors/off', body: { ...PAYLOAD, collector: 'off' } },
  { method: 'GET', path: '/pauses' },
  { method: 'POST', path: '/pauses', body: { target: 'probe', reason: 'hostile' } },
  { method: 'DELETE', path: '/pauses/probe' },
  {
    method: 'POST',
    path: '/backfills',
    body: { collector: 'probe', from: '2026-11-20T00:00:00Z', to: '2026-11-21T00:00:00Z' },
  },
];

const GENERIC = {
  401: { code: 'AUTH_REQUIRED', message: 'missing or invalid credentials' },
  403: { code: 'AUTH_FORBIDDEN', message: 'this caller may not use this function' },
};

describe.each(VARIANTS)('hostile requests against the function: $name', (variant) => {
  const dirs = tempDirs();
  let rig: HostileRig;
  let upstreamBefore = 0;

  beforeAll(async () => {
    rig = await startHostileRig(variant, dirs.make('hostile'));
  });
  afterAll(async () => {
    await rig.close();
    dirs.cleanup();
  });
  beforeEach(() => {
    upstreamBefore = rig.upstream.requests.length;
  });

  /** Nothing ran and nothing left: no upstream call, no canary call, no run record. */
  async function expectNothingRan(): Promise<void> {
    await rig.settled();
    expect(rig.upstream.requests.length).toBe(upstreamBefore);
    expect(rig.canary.requests).toHaveLength(0);
    expect(storedObjects(rig.dir).filter((o) => o.file.includes('/runs/'))).toEqual([]);
    // Nor a pause or a backfill.
    expect(storedObjects(rig.dir).filter((o) => /\/schedule\/(pauses|backfills)\//.test(o.file))).toEqual([]);
  }

  it.each(bodyRowsFor())('$label: answers $status $code and runs nothing', async (row) => {
    const res = await rig.send(row.method, row.path.replace('CANARY', encodeURIComponent(rig.canary.url)), {
      body: bodyFor(row.body, rig),
      headers: { ...rig.valid(), ...headersFor(row.headers, rig) },
    });
    expect(res.status).toBe(row.status);
    expect(res.body.error?.code).toBe(row.code);
    expect(res.body.error?.message).toMatch(row.message);
    await expectNothingRan();
  });

  const authRows =
    variant.auth === 'google-id-token' ? ID_TOKEN_ROWS : variant.auth === 'bearer' ? BEARER_ROWS : [];
  if (authRows.length > 0) {
    describe.each(authRows)('$label', (row) => {
      it.each(AUTH_ROUTES)(
        `$method $path answers ${row.status} with a bare JSON error and runs nothing`,
        async (route) => {
          const authorization = row.authorization(rig);
          const res = await rig.send(route.method, route.path, {
            body: route.body,
            headers: authorization === undefined ? {} : { authorization },
          });
          expect(res.status).toBe(row.status);
          expect(res.body).toEqual({ error: GENERIC[row.status] });
          await expectNothingRan();
        },
      );
    });
  } else {
    it('needs no credentials locally (incoming_auth none is the local default)', async () => {
      const res = await rig.send('GET', '/status');
      expect(res.status).toBe(404);
      expect(res.body.error?.code).toBe('NOT_FOUND');
    });
  }

  if (variant.auth === 'google-id-token') {
    it("refuses a collector's audience on the other routes, and an outsider's token for the collector's audience", async () => {
      const collectorAudience = `${rig.url}/collectors/probe`;
      const onRun = await rig.send('POST', '/run', {
        body: { collectors: ['probe'] },
        headers: { authorization: `Bearer ${rig.idToken(collectorAudience, TASKS_SA)}` },
      });
      expect(onRun.status).toBe(401);
      const outsider = await rig.send('POST', '/collectors/probe', {
        body: PAYLOAD,
        headers: { authorization: `Bearer ${rig.idToken(collectorAudience, OUTSIDER)}` },
      });
      expect(outsider.status).toBe(403);
      await expectNothingRan();
    });
  }

  it('ignores a query string naming a host and a variable: the configured entry runs with its configured options', async () => {
    const res = await rig.send(
      'POST',
      `/collectors/probe?base_url=${encodeURIComponent(rig.canary.url)}&api_key_env=OTHER_SECRET`,
      {
        body: { ...PAYLOAD, executionId: '20261122T140000Z-query001' },
        headers: collectorCaller(rig),
      },
    );
    expect(res.status).toBe(200);
    expect(res.body['run']).toMatchObject({ status: 'success', collector: 'probe' });
    expect(rig.canary.requests).toHaveLength(0);
    const call = rig.upstream.requests.at(-1)!;
    expect(call.path).toBe('/data');
    expect(call.headers.authorization).toBe(`Bearer ${SECRETS.PROBE_API_KEY}`);
  });

  it('lets the legitimate caller run the configured collector, through the scheduler', async () => {
    const res = await rig.send('POST', '/run', { body: { collectors: ['probe'] }, headers: rig.valid() });
    expect(res.status).toBe(200);
    await rig.settled();
    const status = await rig.send('GET', '/status', { headers: rig.valid() });
    expect(status.status).toBe(200);
    expect((status.body['collectors'] as Record<string, { status: string }>)['probe']!.status).toBe(
      'success',
    );
    expect(rig.upstream.requests.length).toBe(upstreamBefore + 1);
    expect(rig.upstream.requests.at(-1)!.headers.authorization).toBe(`Bearer ${SECRETS.PROBE_API_KEY}`);
    expect(rig.canary.requests).toHaveLength(0);
  });

  it('answers a dry run with URLs stripped of credentials and query values, and payloads without options', async () => {
    const before = rig.upstream.requests.length;
    const res = await rig.send('POST', '/run', {
      body: { dryRun: true, collectors: ['probe', 'keyed'] },
      headers: rig.valid(),
    });
    expect(res.status).toBe(200);
    const plan = res.body['collectors'] as Record<string, { url: string; payload: object }>;
    expect(plan['keyed']!.url).toBe('https://collectors.example/keyed?…');
    expect(plan['probe']!.url).toBe(`${rig.url}/collectors/probe`);
    expect(Object.keys(plan['probe']!.payload).sort()).toEqual([
      'attempt',
      'collector',
      'executionId',
      'scheduledTime',
    ]);
    expect(rig.upstream.requests.length).toBe(before);
    expect(rig.canary.requests).toHaveLength(0);
  });

  it('scrubs an upstream error that echoes our Authorization header and a keyed URL', async () => {
    const res = await rig.send('POST', '/run', { body: { collectors: ['echo'] }, headers: rig.valid() });
    expect([200, 500]).toContain(res.status);
    await rig.settled();
    const status = await rig.send('GET', '/status', { headers: rig.valid() });
    const echo = (status.body['collectors'] as Record<string, { status: string; error: string }>)['echo']!;
    expect(echo.status).toBe('failed');
    expect(echo.error).toContain('upstream answered 500: refused. Authorization: [redacted]');
    expect(echo.error).toContain('http://upstream.example/echo?…');
  });

  it('prints no secret in CLI progress, retry, dry-run (text and JSON) or summary lines', async () => {
    const lines: string[] = [];
    const io: CliIO = {
      stdout: (t) => lines.push(t),
      stderr: (t) => lines.push(t),
      env: rig.env,
      cwd: process.cwd(),
    };
    const overrides = { registry: new CollectorRegistry([probe]) };
    const config = ['--config', rig.configFile];
    expect(await main([...config, 'run', '--dry-run', '--collectors', 'probe,keyed'], io, overrides)).toBe(0);
    expect(
      await main([...config, 'run', '--dry-run', '--json', '--collectors', 'keyed'], io, overrides),
    ).toBe(0);
    const dryRun = lines.join('');
    expect(dryRun).toContain('https://collectors.example/keyed?…');
    expect(dryRun).not.toContain(SECRETS.URL_PASSWORD);
    expect(dryRun).not.toContain(SECRETS.URL_KEY);
    await main([...config, 'run', '--collectors', 'probe,echo'], io, overrides);
    await rig.settled();
    rig.outputs.cli.push(...lines);
    const run = lines.join('');
    if (variant.mode === 'http') {
      // The echoing collector is retried: its retry and failure lines quote the upstream, scrubbed.
      expect(run).toMatch(/↻ echo: retrying .*Authorization: \[redacted\]/);
      expect(run).toMatch(/✗ echo: failed .*Authorization: \[redacted\]/);
    } else {
      expect(run).toMatch(/echo +scheduled/);
    }
  });

  it('leaves no secret value in any answer, log line, CLI line or stored object', () => {
    const secrets = [...Object.values(SECRETS), ...rig.tokens];
    const texts = [
      ...rig.outputs.answers.map((text) => ({ where: 'answer', text })),
      ...rig.outputs.logs.map((entry) => ({ where: 'log', text: JSON.stringify(entry) })),
      ...rig.outputs.cli.map((text) => ({ where: 'cli', text })),
      ...storedObjects(rig.dir).map((o) => ({ where: o.file, text: o.text })),
    ];
    expect(texts.length).toBeGreaterThan(50);
    const leaks = texts.flatMap(({ where, text }) =>
      secrets.filter((s) => text.includes(s)).map((s) => `${where}: ${s.slice(0, 12)}…`),
    );
    expect(leaks).toEqual([]);
    expect(rig.canary.requests).toHaveLength(0);
  });
});

function bodyRowsFor(): BodyRow[] {
  return bodyRows('CANARY');
}

/** Rows are built before the canary exists; its URL replaces the CANARY placeholder when sent. */
function bodyFor(body: unknown, rig: HostileRig): unknown {
  return body === undefined
    ? undefined
    : JSON.parse(JSON.stringify(body).split('CANARY').join(rig.canary.url));
}

function headersFor(headers: Record<string, string> | undefined, rig: HostileRig): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).map(([k, v]) => [k, v.split('CANARY').join(rig.canary.url)]),
  );
}

/** What a collector route's legitimate caller sends: Cloud Tasks' OIDC token in tasks mode. */
function collectorCaller(rig: HostileRig): Record<string, string> {
  return rig.variant.auth === 'google-id-token'
    ? { authorization: `Bearer ${rig.idToken(`${rig.url}/collectors/probe`, TASKS_SA)}` }
    : rig.valid();
}
