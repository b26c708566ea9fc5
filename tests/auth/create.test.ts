import { createHeaderProvider } from '../../src/auth/create';
import { GoogleIdTokenProvider } from '../../src/auth/google-id-token';
import { isSchedulerError } from '../../src/errors';
import { CollectorRegistry } from '../../src/runtime/registry';
import { envSecretSource } from '../../src/secrets/env-source';
import { SecretManagerSource } from '../../src/secrets/secret-manager';
import type { CredentialRef, SecretSource } from '../../src/secrets/types';
import { scrub } from '../../src/util/secrets';
import { FakeClock } from '../support/fake-clock';
import { useMetadataServer } from '../support/metadata-server';
import { startSecretManagerServer, type SecretManagerServer } from '../support/secret-manager-server';
import { testServices } from '../support/services';
import { tempDirs } from '../support/temp';

const SECRET = 'projects/test-project/secrets/collector-token/versions/latest';
const dirs = tempDirs();
afterAll(() => dirs.cleanup());

/** A SecretSource that counts its calls and answers from a map. */
function countingSource(values: Record<string, string>): SecretSource & { calls: CredentialRef[] } {
  const calls: CredentialRef[] = [];
  return {
    calls,
    async get(ref) {
      calls.push(ref);
      return 'secret' in ref ? (values[ref.secret] ?? null) : null;
    },
  };
}

describe('createHeaderProvider', () => {
  it('none: no headers', async () => {
    const auth = createHeaderProvider({ type: 'none' }, { env: {}, secrets: countingSource({}) });
    expect(await auth.headersFor('https://collector.example/run')).toEqual({});
  });

  it('google-id-token: a GoogleIdTokenProvider', () => {
    const auth = createHeaderProvider({ type: 'google-id-token' }, { env: {}, secrets: countingSource({}) });
    expect(auth).toBeInstanceOf(GoogleIdTokenProvider);
  });

  it('bearer with a secret: asks the SecretSource once, however many calls, concurrent or not', async () => {
    const secrets = countingSource({ [SECRET]: 'bearer-token-value-1' });
    const auth = createHeaderProvider(
      { type: 'bearer', tokenEnv: 'COLLECTOR_TOKEN', secret: SECRET },
      { env: {}, secrets },
    );
    const headers = await Promise.all([
      auth.headersFor('https://a.example/'),
      auth.headersFor('https://b.example/'),
    ]);
    await auth.headersFor('https://c.example/');

    expect(headers).toEqual(Array(2).fill({ authorization: 'Bearer bearer-token-value-1' }));
    expect(secrets.calls).toEqual([{ secret: SECRET }]);
    expect(scrub('bearer-token-value-1')).toBe('[redacted]');
  });

  it('bearer with a missing secret: AUTH_TOKEN_MISSING each call, asking again each time', async () => {
    const secrets = countingSource({});
    const auth = createHeaderProvider(
      { type: 'bearer', tokenEnv: 'COLLECTOR_TOKEN', secret: SECRET },
      { env: {}, secrets },
    );
    for (let i = 0; i < 2; i++) {
      const error = await auth.headersFor('https://a.example/').catch((e: unknown) => e);
      expect(isSchedulerError(error, 'AUTH_TOKEN_MISSING')).toBe(true);
      expect((error as Error).message).toContain(SECRET);
    }
    expect(secrets.calls).toHaveLength(2);
  });

  it('bearer without a secret: the environment variable, AUTH_TOKEN_MISSING when unset', async () => {
    const secrets = countingSource({});
    const set = createHeaderProvider(
      { type: 'bearer', tokenEnv: 'TOK' },
      { env: { TOK: 'env-token-1' }, secrets },
    );
    const unset = createHeaderProvider({ type: 'bearer', tokenEnv: 'TOK' }, { env: {}, secrets });

    expect(await set.headersFor('https://a.example/')).toEqual({ authorization: 'Bearer env-token-1' });
    const error = await unset.headersFor('https://a.example/').catch((e: unknown) => e);
    expect(isSchedulerError(error, 'AUTH_TOKEN_MISSING')).toBe(true);
    expect(secrets.calls).toHaveLength(0);
  });
});

describe('createServices wiring', () => {
  let server: SecretManagerServer;
  beforeEach(async () => {
    server = await startSecretManagerServer();
  });
  afterEach(() => server.close());

  const yaml = `
timezone: UTC
scheduler:
  auth: { type: bearer, secret: ${SECRET} }
collectors:
  alpha: { schedule: "0 14 * * *", url: "https://alpha.example/collectors/alpha" }
`;

  it('bearer auth reads its token from the services SecretSource', async () => {
    server.addVersion('projects/test-project/secrets/collector-token', 'services-bearer-token');
    const source = new SecretManagerSource({ client: server.clientOptions, clock: new FakeClock() });
    const services = await testServices(yaml, dirs.make(), {
      registry: new CollectorRegistry([]),
      secrets: envSecretSource({}, source),
    });
    try {
      expect(await services.auth.headersFor('https://alpha.example/collectors/alpha')).toEqual({
        authorization: 'Bearer services-bearer-token',
      });
      expect(server.requests.map((r) => r.name)).toEqual([SECRET]);
    } finally {
      await services.close();
      await source.close();
    }
  });

  it('by default: env vars for env refs, Secret Manager (real client, credentials checked) for secret refs', async () => {
    const restore = useMetadataServer(null, 'none');
    const services = await testServices(yaml, dirs.make(), {
      registry: new CollectorRegistry([]),
      env: { SIRENE_TOKEN: 'sirene-token-from-env' },
    });
    try {
      expect(await services.secrets.get({ env: 'SIRENE_TOKEN' })).toBe('sirene-token-from-env');
      const error = await services.secrets.get({ secret: SECRET }).catch((e: unknown) => e);
      expect(isSchedulerError(error, 'AUTH_NO_CREDENTIALS')).toBe(true);
      // The bearer provider goes through the same source.
      const authError = await services.auth
        .headersFor('https://alpha.example/collectors/alpha')
        .catch((e: unknown) => e);
      expect(isSchedulerError(authError, 'AUTH_NO_CREDENTIALS')).toBe(true);
    } finally {
      await services.close();
      restore();
    }
  });
});
