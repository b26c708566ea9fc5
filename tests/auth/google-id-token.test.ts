import {
  GoogleIdTokenProvider,
  ID_TOKEN_FETCH_TIMEOUT_MS,
  ID_TOKEN_REFRESH_MARGIN_MS,
} from '../../src/auth/google-id-token';
import { gcpMetadata } from 'google-auth-library';
import { isRetryableAuthError } from '../../src/auth/types';
import { FakeClock } from '../support/fake-clock';
import { decodeIdToken } from '../support/id-tokens';
import { startMetadataServer, useMetadataServer, type MetadataServer } from '../support/metadata-server';
import { rejection } from '../support/rejection';

// The real google-auth-library, against a loopback metadata server: GCE_METADATA_HOST points it there.
let server: MetadataServer;
let clock: FakeClock;
let restoreEnv: () => void;

beforeEach(async () => {
  clock = new FakeClock();
  server = await startMetadataServer({ now: () => clock.now() });
  restoreEnv = useMetadataServer(server);
});

afterEach(async () => {
  restoreEnv();
  server.releaseSlow();
  await server.close();
});

const provider = () => new GoogleIdTokenProvider({ clock });

describe('GoogleIdTokenProvider through google-auth-library and the metadata server', () => {
  it('puts an ID token for each collector URL audience in the Authorization header', async () => {
    const p = provider();
    const dvf = await p.headersFor('https://dvf-abc.a.run.app/collectors/dvf');
    const sirene = await p.headersFor('https://sirene-abc.a.run.app/collectors/sirene');

    expect(decodeIdToken(dvf.authorization)?.aud).toBe('https://dvf-abc.a.run.app/collectors/dvf');
    expect(decodeIdToken(sirene.authorization)?.aud).toBe('https://sirene-abc.a.run.app/collectors/sirene');
    expect(server.identityRequests()).toEqual([
      { audience: 'https://dvf-abc.a.run.app/collectors/dvf', format: 'full' },
      { audience: 'https://sirene-abc.a.run.app/collectors/sirene', format: 'full' },
    ]);
    // Every request to the metadata server carried the header it demands.
    expect(server.requests.every((r) => r.headers['metadata-flavor'] === 'Google')).toBe(true);
  });

  it('leaves the query string (and fragment) out of the audience', async () => {
    const p = provider();
    const headers = await p.headersFor('https://collector.example/run?key=s3cr3t-query&day=2#top');

    expect(decodeIdToken(headers.authorization)?.aud).toBe('https://collector.example/run');
    expect(server.identityRequests()).toEqual([
      { audience: 'https://collector.example/run', format: 'full' },
    ]);
    expect(server.requests.some((r) => r.path.includes('s3cr3t-query'))).toBe(false);
  });

  it('caches the token per audience: the same audience (whatever the query) is fetched once', async () => {
    const p = provider();
    const first = await p.headersFor('https://collector.example/run?a=1');
    const second = await p.headersFor('https://collector.example/run?a=2');
    const third = await p.headersFor('https://collector.example/run');
    await p.headersFor('https://collector.example/other');

    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(server.identityRequests().map((r) => r.audience)).toEqual([
      'https://collector.example/run',
      'https://collector.example/other',
    ]);
  });

  it(`refreshes a token ${ID_TOKEN_REFRESH_MARGIN_MS / 60_000} min before it expires, not earlier`, async () => {
    const p = provider();
    const url = 'https://collector.example/run';
    const first = await p.headersFor(url);
    const exp = decodeIdToken(first.authorization)!.exp * 1000;

    clock.advance(exp - ID_TOKEN_REFRESH_MARGIN_MS - clock.now() - 1);
    expect(await p.headersFor(url)).toEqual(first);
    expect(server.identityRequests()).toHaveLength(1);

    clock.advance(1);
    const refreshed = await p.headersFor(url);
    expect(server.identityRequests()).toHaveLength(2);
    expect(refreshed.authorization).not.toBe(first.authorization);
    expect(decodeIdToken(refreshed.authorization)!.exp * 1000).toBeGreaterThan(exp);
  });

  it('makes concurrent callers for one audience share one fetch', async () => {
    server.fault('slow', 1);
    const p = provider();
    const pending = Array.from({ length: 8 }, (_, i) => p.headersFor(`https://collector.example/run?i=${i}`));
    await server.waitForRequests(1);
    server.releaseSlow();
    const all = await Promise.all(pending);

    expect(server.identityRequests()).toHaveLength(1);
    expect(new Set(all.map((h) => h.authorization)).size).toBe(1);
    expect(decodeIdToken(all[0]!.authorization)?.aud).toBe('https://collector.example/run');
  });

  it('also works when the library detects the metadata server by probing it (detection unset)', async () => {
    restoreEnv();
    restoreEnv = useMetadataServer(server, 'unset');
    const headers = await provider().headersFor('https://collector.example/run');

    expect(decodeIdToken(headers.authorization)?.aud).toBe('https://collector.example/run');
    expect(server.requests.map((r) => r.path.split('?')[0])).toEqual([
      '/computeMetadata/v1/instance',
      '/computeMetadata/v1/instance/service-accounts/default/identity',
    ]);
  });
});

describe('unusable answers from the metadata server', () => {
  const cases = [
    { fault: 'not-a-jwt', message: /not a JWT/ },
    { fault: 'malformed', message: /payload is not JSON/ },
    { fault: 'expired', message: /expired at \d{4}-\d\d-\d\dT/ },
  ] as const;

  for (const { fault, message } of cases) {
    it(`${fault}: AUTH_ID_TOKEN_INVALID naming the audience, never the token; the next call fetches again`, async () => {
      server.fault(fault, 1);
      const p = provider();
      const error = await rejection(p.headersFor('https://collector.example/run?x=1'));

      expect(error.code).toBe('AUTH_ID_TOKEN_INVALID');
      expect(error.message).toMatch(message);
      expect(error.message).toContain('audience https://collector.example/run');
      for (const secret of [...server.issued, 'opaque-not-a-jwt-token-value', 'bm90LWpzb24tcGF5bG9hZA']) {
        expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(secret);
      }

      // Nothing bad was cached: the metadata server is asked again and this time answers a good token.
      const headers = await p.headersFor('https://collector.example/run');
      expect(decodeIdToken(headers.authorization)?.aud).toBe('https://collector.example/run');
      expect(server.identityRequests()).toHaveLength(2);
    });
  }

  it('a 500 (after the library retried it): AUTH_ID_TOKEN_UNAVAILABLE with the status, worth retrying', async () => {
    server.fault('error-500');
    const error = await rejection(provider().headersFor('https://collector.example/run'));

    expect(error.code).toBe('AUTH_ID_TOKEN_UNAVAILABLE');
    expect(isRetryableAuthError(error)).toBe(true);
    expect(error.message).toMatch(
      /^could not get an ID token for audience https:\/\/collector\.example\/run from the metadata server: .*internal error/,
    );
    // gcp-metadata retries a 5xx three times by itself; it does not go on for ever.
    expect(server.identityRequests()).toHaveLength(4);
  });

  it(`no answer: gives up after ${ID_TOKEN_FETCH_TIMEOUT_MS / 1000} s of the clock, and the next call fetches again`, async () => {
    server.fault('slow', 1);
    const p = provider();
    const pending = rejection(p.headersFor('https://collector.example/run'));
    await server.waitForRequests(1);
    clock.advance(ID_TOKEN_FETCH_TIMEOUT_MS - 1);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(1);
    const error = await pending;

    expect(error.code).toBe('AUTH_ID_TOKEN_UNAVAILABLE');
    expect(error.message).toContain(`no answer within ${ID_TOKEN_FETCH_TIMEOUT_MS / 1000} s`);
    const headers = await p.headersFor('https://collector.example/run');
    expect(decodeIdToken(headers.authorization)?.aud).toBe('https://collector.example/run');
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('a credentials lookup that failed', () => {
  it('is not kept: once the metadata server answers its probe, the next call gets a token', async () => {
    restoreEnv();
    restoreEnv = useMetadataServer(server, 'unset');
    // Another test of this file may have probed already; gcp-metadata keeps that for the process.
    gcpMetadata.resetIsAvailableCache();
    // gaxios retries a probe's 5xx itself: every one of those tries fails.
    server.failProbes(Number.POSITIVE_INFINITY);
    const p = provider();
    const first = await rejection(p.headersFor('https://collector.example/run'));
    expect(first.code).toBe('AUTH_NO_CREDENTIALS');
    const probes = server.requests.length;
    expect(probes).toBeGreaterThan(0);

    server.failProbes(0);
    const headers = await p.headersFor('https://collector.example/run');
    expect(decodeIdToken(headers.authorization)?.aud).toBe('https://collector.example/run');
    expect(server.requests.slice(probes).map((r) => r.path.split('?')[0])).toEqual([
      '/computeMetadata/v1/instance',
      '/computeMetadata/v1/instance/service-accounts/default/identity',
    ]);
  });
});

describe('no Google credentials', () => {
  it('fails fast with one AUTH_NO_CREDENTIALS message saying how to provide them', async () => {
    restoreEnv();
    restoreEnv = useMetadataServer(null, 'none');
    const p = provider();
    const errors = await Promise.all([
      rejection(p.headersFor('https://a.example/run')),
      rejection(p.headersFor('https://b.example/run')),
    ]);
    const later = await rejection(p.headersFor('https://a.example/run'));

    for (const error of [...errors, later]) {
      expect(error.code).toBe('AUTH_NO_CREDENTIALS');
      expect(error.message).toBe(errors[0]!.message);
    }
    expect(errors[0]!.message).toMatch(/^no Google credentials to mint ID tokens/);
    expect(errors[0]!.message).toContain('GOOGLE_APPLICATION_CREDENTIALS');
    expect(errors[0]!.message).toContain('run on Google Cloud');
    expect(errors[0]!.message).toContain('Could not load the default credentials');
    expect(server.requests).toHaveLength(0);
  });
});
