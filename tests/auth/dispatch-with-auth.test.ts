import { createHeaderProvider } from '../../src/auth/create';
import type { HeaderProvider } from '../../src/auth/types';
import { HttpDispatcher } from '../../src/dispatch/http-dispatcher';
import { createNodeTransport, type HttpTransport } from '../../src/dispatch/transport';
import type { DispatchTarget } from '../../src/dispatch/types';
import { envSecretSource } from '../../src/secrets/env-source';
import { SecretManagerSource } from '../../src/secrets/secret-manager';
import { ID_TOKEN_FETCH_TIMEOUT_MS } from '../../src/auth/google-id-token';
import { FakeClock } from '../support/fake-clock';
import { json, startServer, type TestServer } from '../support/http';
import { decodeIdToken } from '../support/id-tokens';
import { startMetadataServer, useMetadataServer, type MetadataServer } from '../support/metadata-server';
import { startSecretManagerServer, type SecretManagerServer } from '../support/secret-manager-server';
import { until } from '../support/wait';

// End to end: the real HttpDispatcher calls a loopback collector with the headers each provider makes,
// and the collector checks them the way Cloud Run / Cloud Functions would.
const closers: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function target(name: string, url: string, attempts = 1): DispatchTarget {
  return {
    name,
    url,
    payload: {
      executionId: '20261122T140000Z-aaaaaaaa',
      collector: name,
      scheduledTime: '2026-11-22T14:00:00.000Z',
      attempt: 1,
    },
    timeoutMs: 60_000,
    retry: { attempts, minBackoffSeconds: 1, maxBackoffSeconds: 1 },
    group: null,
    groupWaitMs: 0,
    queue: null,
  };
}

function dispatcher(clock: FakeClock, auth: HeaderProvider): HttpDispatcher {
  const transport: HttpTransport = createNodeTransport(clock, 10);
  closers.push(() => transport.close());
  return new HttpDispatcher({
    transport,
    clock,
    auth,
    maxConcurrent: 4,
    maxResponseBytes: 1 << 20,
    random: () => 0.5,
  });
}

async function serve(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const server = await startServer(handler);
  closers.push(() => server.close());
  return server;
}

describe('google-id-token: collectors receive an ID token for their own URL', () => {
  let metadata: MetadataServer;
  let clock: FakeClock;

  beforeEach(async () => {
    clock = new FakeClock();
    metadata = await startMetadataServer({ now: () => clock.now() });
    closers.push(() => metadata.close());
    closers.push(useMetadataServer(metadata));
  });

  it('each collector sees aud = its URL without the query, and both succeed', async () => {
    // The collector side: accept only a Bearer ID token whose audience is this URL's audience.
    const seen: { path: string; aud: string | null }[] = [];
    const collector = await serve((req, res) => {
      const claims = decodeIdToken(req.headers.authorization);
      const path = (req.url ?? '').split('?')[0]!;
      seen.push({ path, aud: claims?.aud ?? null });
      if (claims?.aud !== `${collectorUrl}${path}`) return json(res, 401, { error: 'wrong audience' });
      json(res, 200, { ok: true });
    });
    const collectorUrl = collector.url;
    const auth = createHeaderProvider(
      { type: 'google-id-token' },
      { env: {}, secrets: envSecretSource({}), clock },
    );

    const outcomes = await dispatcher(clock, auth).dispatch(
      [
        target('dvf', `${collector.url}/collectors/dvf?departement=75&key=abc`),
        target('sirene', `${collector.url}/collectors/sirene`),
      ],
      { signal: new AbortController().signal },
    );

    expect(outcomes.map((o) => [o.name, o.status, o.httpStatus])).toEqual([
      ['dvf', 'success', 200],
      ['sirene', 'success', 200],
    ]);
    expect(seen.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: '/collectors/dvf', aud: `${collector.url}/collectors/dvf` },
      { path: '/collectors/sirene', aud: `${collector.url}/collectors/sirene` },
    ]);
    expect(
      metadata
        .identityRequests()
        .map((r) => r.audience)
        .sort(),
    ).toEqual([`${collector.url}/collectors/dvf`, `${collector.url}/collectors/sirene`]);
  });

  it('an unusable token fails that collector as AuthError, never calls it, and keeps the token out of the report', async () => {
    metadata.fault('expired', 1);
    const collector = await serve((_req, res) => json(res, 200, { ok: true }));
    const auth = createHeaderProvider(
      { type: 'google-id-token' },
      { env: {}, secrets: envSecretSource({}), clock },
    );

    const [outcome] = await dispatcher(clock, auth).dispatch(
      [target('dvf', `${collector.url}/collectors/dvf`, 3)],
      {
        signal: new AbortController().signal,
      },
    );

    // Another attempt would get the same unusable answer: not retried.
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'AuthError', attempts: 1 });
    expect(outcome!.error).toMatch(/^the metadata server answered an ID token that expired at /);
    expect(collector.requests).toHaveLength(0);
    for (const token of metadata.issued) expect(JSON.stringify(outcome)).not.toContain(token);
  });
});

describe('google-id-token: a metadata server that fails to mint a token is retried like a network error', () => {
  let metadata: MetadataServer;
  let clock: FakeClock;

  beforeEach(async () => {
    clock = new FakeClock('2026-11-22T14:00:00Z', false);
    metadata = await startMetadataServer({ now: () => clock.now() });
    closers.push(() => metadata.close());
    closers.push(useMetadataServer(metadata));
  });

  const provider = () =>
    createHeaderProvider({ type: 'google-id-token' }, { env: {}, secrets: envSecretSource({}), clock });

  it('a 500 (which gcp-metadata retried 3 times itself): backoff, then a token and one call', async () => {
    metadata.fault('error-500', 4);
    const collector = await serve((_req, res) => json(res, 200, { ok: true }));
    const pending = dispatcher(clock, provider()).dispatch(
      [target('dvf', `${collector.url}/collectors/dvf`, 3)],
      {
        signal: new AbortController().signal,
      },
    );
    await until(() => clock.sleeps.length === 1, 'the backoff after the failed mint');
    clock.advance(clock.sleeps[0]!);
    const [outcome] = await pending;

    expect(outcome).toMatchObject({ status: 'success', attempts: 2 });
    expect(clock.sleeps).toEqual([500]);
    expect(metadata.identityRequests()).toHaveLength(5);
    expect(collector.requests).toHaveLength(1);
  });

  it('no answer within the fetch timeout: backoff, then a token and one call', async () => {
    metadata.fault('slow', 1);
    const collector = await serve((_req, res) => json(res, 200, { ok: true }));
    const pending = dispatcher(clock, provider()).dispatch(
      [target('dvf', `${collector.url}/collectors/dvf`, 3)],
      {
        signal: new AbortController().signal,
      },
    );
    await metadata.waitForRequests(1);
    clock.advance(ID_TOKEN_FETCH_TIMEOUT_MS);
    await until(() => clock.sleeps.length === 1, 'the backoff after the timed-out mint');
    clock.advance(clock.sleeps[0]!);
    const [outcome] = await pending;

    expect(outcome).toMatchObject({ status: 'success', attempts: 2 });
    expect(collector.requests).toHaveLength(1);
    expect(decodeIdToken(collector.requests[0]!.headers.authorization)?.aud).toBe(
      `${collector.url}/collectors/dvf`,
    );
  });
});

describe('bearer from Secret Manager', () => {
  const SECRET = 'projects/test-project/secrets/collector-token';
  const TOKEN = 'collector-bearer-token-from-secret-manager';
  let secretManager: SecretManagerServer;
  let clock: FakeClock;

  beforeEach(async () => {
    clock = new FakeClock();
    secretManager = await startSecretManagerServer();
    closers.push(() => secretManager.close());
  });

  function secrets() {
    const source = new SecretManagerSource({ client: secretManager.clientOptions, clock });
    closers.push(() => source.close());
    return envSecretSource({}, source);
  }

  it('sends the secret as the Bearer token, fetched once for every dispatch', async () => {
    secretManager.addVersion(SECRET, TOKEN);
    const collector = await serve((req, res) =>
      req.headers.authorization === `Bearer ${TOKEN}` ? json(res, 200, { ok: true }) : json(res, 401, {}),
    );
    const auth = createHeaderProvider(
      { type: 'bearer', tokenEnv: 'COLLECTOR_TOKEN', secret: `${SECRET}/versions/latest` },
      // The env var is set too: the secret wins when configured.
      { env: { COLLECTOR_TOKEN: 'env-token-not-used' }, secrets: secrets(), clock },
    );
    const d = dispatcher(clock, auth);

    const first = await d.dispatch(
      [target('dvf', `${collector.url}/collectors/dvf`), target('plu', `${collector.url}/collectors/plu`)],
      { signal: new AbortController().signal },
    );
    const second = await d.dispatch([target('dvf', `${collector.url}/collectors/dvf`)], {
      signal: new AbortController().signal,
    });

    expect([...first, ...second].map((o) => o.status)).toEqual(['success', 'success', 'success']);
    expect(collector.requests.map((r) => r.headers.authorization)).toEqual(Array(3).fill(`Bearer ${TOKEN}`));
    expect(secretManager.requests.map((r) => r.name)).toEqual([`${SECRET}/versions/latest`]);
  });

  it('a missing secret: AUTH_TOKEN_MISSING naming the secret, the collector is not called; found once created', async () => {
    const collector = await serve((_req, res) => json(res, 200, { ok: true }));
    const auth = createHeaderProvider(
      { type: 'bearer', tokenEnv: 'COLLECTOR_TOKEN', secret: `${SECRET}/versions/latest` },
      { env: {}, secrets: secrets(), clock },
    );
    const d = dispatcher(clock, auth);

    const [missing] = await d.dispatch([target('dvf', `${collector.url}/collectors/dvf`)], {
      signal: new AbortController().signal,
    });
    expect(missing).toMatchObject({ status: 'failed', errorType: 'AuthError' });
    expect(missing!.error).toBe(
      `auth type bearer needs a token in the Secret Manager secret ${SECRET}/versions/latest, which does not exist or has no enabled version`,
    );
    expect(collector.requests).toHaveLength(0);

    secretManager.addVersion(SECRET, TOKEN);
    const [found] = await d.dispatch([target('dvf', `${collector.url}/collectors/dvf`)], {
      signal: new AbortController().signal,
    });
    expect(found).toMatchObject({ status: 'success' });
    expect(collector.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('Secret Manager down: the bounded retry ends in SECRET_UNAVAILABLE for that collector', async () => {
    secretManager.addVersion(SECRET, TOKEN);
    secretManager.failNext(10);
    const collector = await serve((_req, res) => json(res, 200, { ok: true }));
    const auth = createHeaderProvider(
      { type: 'bearer', tokenEnv: 'COLLECTOR_TOKEN', secret: `${SECRET}/versions/latest` },
      { env: {}, secrets: secrets(), clock },
    );

    const [outcome] = await dispatcher(clock, auth).dispatch(
      [target('dvf', `${collector.url}/collectors/dvf`)],
      {
        signal: new AbortController().signal,
      },
    );

    expect(outcome).toMatchObject({ status: 'failed', errorType: 'AuthError' });
    expect(outcome!.error).toMatch(
      new RegExp(`^could not read secret ${SECRET}/versions/latest from Secret Manager after 3 attempts`),
    );
    expect(secretManager.requests).toHaveLength(3);
    expect(collector.requests).toHaveLength(0);
  });

  it('without a secret configured, the token still comes from the environment variable', async () => {
    const collector = await serve((req, res) => json(res, 200, { auth: req.headers.authorization }));
    const auth = createHeaderProvider(
      { type: 'bearer', tokenEnv: 'COLLECTOR_TOKEN' },
      { env: { COLLECTOR_TOKEN: 'token-from-the-environment' }, secrets: secrets(), clock },
    );

    const [outcome] = await dispatcher(clock, auth).dispatch(
      [target('dvf', `${collector.url}/collectors/dvf`)],
      {
        signal: new AbortController().signal,
      },
    );

    expect(outcome).toMatchObject({ status: 'success' });
    expect(collector.requests[0]!.headers.authorization).toBe('Bearer token-from-the-environment');
    expect(secretManager.requests).toHaveLength(0);
  });
});
