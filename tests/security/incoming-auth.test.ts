import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import { isSchedulerError } from '../../src/errors';
import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import { createApp } from '../../src/http/app';
import { createFunctionHandler } from '../../src/http/function-handler';
import { CollectorRegistry } from '../../src/runtime/registry';
import { envSecretSource } from '../../src/secrets/env-source';
import { SecretManagerSource } from '../../src/secrets/secret-manager';
import { createServices } from '../../src/create-services';
import { FakeClock } from '../support/fake-clock';
import {
  startGoogleCertsServer,
  makeSigningKey,
  serviceAccountClaims,
  signIdToken,
} from '../support/google-certs';
import { collectorServer } from '../support/collector-servers';
import { json, startServer } from '../support/http';
import { startSecretManagerServer } from '../support/secret-manager-server';
import { captureLogger, testConfig, testServices } from '../support/services';
import { tempDirs } from '../support/temp';
import { writesOne } from '../support/test-collectors';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

const PAYLOAD = {
  executionId: '20261122T140000Z-embedded',
  collector: 'alpha',
  scheduledTime: '2026-11-22T14:00:00Z',
  attempt: 1,
};

describe('incoming_auth none on Cloud Run / Cloud Functions (K_SERVICE set)', () => {
  it('is refused at start-up: every route but /healthz answers 500, with no detail, and nothing runs', async () => {
    const collector = await collectorServer({ kind: 'ok' });
    const dir = dirs.make('kservice');
    const config = testConfig(`collectors:\n  alpha: { url: "${collector.url}/run" }\n`, dir);
    const { logger } = captureLogger();
    const env = { K_SERVICE: 'scheduler' };
    const refusal = await createServices(config, { env, logger }).catch((e: unknown) => e);
    expect(isSchedulerError(refusal, 'CONFIG_INVALID')).toBe(true);
    expect((refusal as Error).message).toMatch(
      /scheduler\.incoming_auth: this function runs on Google Cloud \(K_SERVICE=scheduler\) with no caller check/,
    );

    // Through the function entry point, as deployed: the handler is built where K_SERVICE is set.
    process.env['K_SERVICE'] = 'scheduler';
    let handler: ReturnType<typeof createFunctionHandler>;
    const startup = captureLogger();
    try {
      handler = createFunctionHandler(() => createServices(config, { env, logger }), startup.logger);
    } finally {
      delete process.env['K_SERVICE'];
    }
    ff.http('scheduler-kservice', (req, res) => handler(req, res));
    const server = getTestServer('scheduler-kservice');
    for (const [method, path] of [
      ['post', '/run'],
      ['post', '/'],
      ['get', '/status'],
      ['post', '/collectors/alpha'],
    ] as const) {
      const res = await request(server)[method](path).send({});
      expect(res.status).toBe(500);
      expect(res.body).toEqual({
        error: { code: 'INTERNAL', message: 'the function could not start; see its logs' },
      });
    }
    expect((await request(server).get('/healthz')).status).toBe(200);
    expect(collector.requests).toHaveLength(0);
    // The operator finds the reason in the function's log.
    expect(startup.entries.at(-1)).toMatchObject({ severity: 'ERROR', code: 'CONFIG_INVALID' });
    expect(startup.entries.at(-1)?.message).toMatch(/allow_unauthenticated: true to accept that/);
    await collector.close();
  });

  it('starts with allow_unauthenticated: true, and logs a warning at each start', async () => {
    const dir = dirs.make('allow');
    const yaml =
      'scheduler:\n  incoming_auth: { type: none, allow_unauthenticated: true }\ncollectors:\n  alpha: {}\n';
    for (let start = 1; start <= 2; start++) {
      const { logger, entries } = captureLogger();
      const services = await createServices(testConfig(yaml, dir), {
        env: { K_SERVICE: 'scheduler' },
        logger,
        registry: new CollectorRegistry([writesOne('alpha')]),
      });
      await services.close();
      expect(entries.filter((e) => e.severity === 'WARNING').map((e) => e.message)).toEqual([
        'scheduler.incoming_auth is none with allow_unauthenticated: true: every route of scheduler runs for any caller that IAM lets through',
      ]);
    }
  });
});

describe('the embedded loopback collector server', () => {
  it("runs its own process's dispatches and refuses every other local caller", async () => {
    const dir = dirs.make('embedded');
    const services = await testServices('collectors:\n  alpha: {}\n', dir, {
      registry: new CollectorRegistry([writesOne('alpha')]),
      clock: new FakeClock('2026-11-22T14:00:00Z'),
    });
    try {
      const { report } = await execute(services, makeTrigger('cli'));
      expect(report.collectors['alpha']!.status).toBe('success');

      const base = await services.embedded.baseUrl();
      for (const authorization of [undefined, 'Bearer guessed-token-value', 'Basic YWRtaW46YWRtaW4=']) {
        const res = await fetch(`${base}/collectors/alpha`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
          body: JSON.stringify(PAYLOAD),
        });
        expect(res.status).toBe(401);
        expect(await res.json()).toEqual({
          error: { code: 'AUTH_REQUIRED', message: 'missing or invalid credentials' },
        });
      }
      let records = 0;
      for await (const info of services.stores.state.list('runs/'))
        if (info.key.includes('embedded')) records++;
      expect(records).toBe(0);
    } finally {
      await services.close();
    }
  });
});

describe('incoming bearer tokens', () => {
  const yaml = (auth: string) =>
    `scheduler:\n  incoming_auth: ${auth}\ncollectors:\n  alpha: { url: "http://127.0.0.1:9/collectors/alpha" }\n`;

  it('come from Secret Manager, compared whole', async () => {
    const server = await startSecretManagerServer();
    const secret = 'projects/test-project/secrets/incoming/versions/latest';
    server.addVersion('projects/test-project/secrets/incoming', 'incoming-from-secret-manager');
    const source = new SecretManagerSource({ client: server.clientOptions, clock: new FakeClock() });
    const services = await testServices(yaml(`{ type: bearer, secret: ${secret} }`), dirs.make('sm'), {
      registry: new CollectorRegistry([]),
      secrets: envSecretSource({}, source),
    });
    const app = createApp(async () => services);
    const status = async (authorization: string) =>
      (await app({ method: 'GET', path: '/status', headers: { authorization }, body: undefined })).status;
    try {
      expect(await status('Bearer incoming-from-secret-manager')).toBe(404); // allowed: no report yet
      expect(await status('Bearer incoming-from-secret-manager-and-more')).toBe(401);
      expect(await status('Bearer incoming-from-secret-manage')).toBe(401);
      expect(await status('bearer incoming-from-secret-manager')).toBe(404); // the scheme is case-insensitive
      expect(server.requests.map((r) => r.name)).toEqual([secret]);
    } finally {
      await services.close();
      await source.close();
      await server.close();
    }
  });

  it('answer 503 and run nothing while the expected token is not set', async () => {
    const { logger, entries } = captureLogger();
    const services = await createServices(
      testConfig(yaml('{ type: bearer, token_env: INCOMING }'), dirs.make('unset')),
      {
        env: {},
        logger,
        registry: new CollectorRegistry([]),
      },
    );
    const app = createApp(async () => services);
    try {
      const res = await app({
        method: 'POST',
        path: '/run',
        headers: { authorization: 'Bearer anything-at-all' },
        body: undefined,
      });
      expect(res).toMatchObject({
        status: 503,
        body: {
          error: {
            code: 'AUTH_UNAVAILABLE',
            message: 'callers cannot be verified right now; try again later',
          },
        },
      });
      expect(entries.at(-1)?.message).toBe(
        'caller not verified: the expected bearer token (environment variable INCOMING) is not set',
      );
    } finally {
      await services.close();
    }
  });
});

describe('incoming Google ID tokens', () => {
  it("answer 503 while Google's certificates cannot be fetched", async () => {
    const certs = await startServer((_req, res) => json(res, 503, { error: 'unavailable' }));
    const key = makeSigningKey('k1');
    const aud = 'https://scheduler.example';
    const services = await testServices(
      `scheduler:\n  incoming_auth: { type: google-id-token, audiences: ["${aud}"], allowed_emails: [a@example.com], certs_url: "${certs.url}/certs" }\ncollectors:\n  alpha: { url: "http://127.0.0.1:9/collectors/alpha" }\n`,
      dirs.make('certs'),
      { registry: new CollectorRegistry([]) },
    );
    try {
      const res = await createApp(async () => services)({
        method: 'GET',
        path: '/status',
        headers: { authorization: `Bearer ${signIdToken(key, serviceAccountClaims(aud, 'a@example.com'))}` },
        body: undefined,
      });
      expect(res.status).toBe(503);
      expect(certs.requests.length).toBeGreaterThan(0);
      expect(certs.requests[0]!.path).toBe('/certs');
    } finally {
      await services.close();
      await certs.close();
    }
  });

  it('are accepted from an allowed, verified email for a configured audience, certificates fetched once', async () => {
    const key = makeSigningKey('k1');
    const certs = await startGoogleCertsServer([key]);
    const aud = 'https://scheduler.example';
    const services = await testServices(
      `scheduler:\n  incoming_auth: { type: google-id-token, audiences: ["${aud}"], allowed_emails: [Ops@Example.com], certs_url: "${certs.certsUrl}" }\ncollectors:\n  alpha: { url: "http://127.0.0.1:9/collectors/alpha" }\n`,
      dirs.make('ok'),
      { registry: new CollectorRegistry([]) },
    );
    const app = createApp(async () => services);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await app({
          method: 'GET',
          path: '/status',
          headers: {
            authorization: `Bearer ${signIdToken(key, serviceAccountClaims(aud, 'ops@example.com'))}`,
          },
          body: undefined,
        });
        expect(res.status).toBe(404); // let through: there is no report yet
      }
      // Cached for the certificates' max-age.
      expect(certs.requests).toHaveLength(1);
    } finally {
      await services.close();
      await certs.close();
    }
  });
});
