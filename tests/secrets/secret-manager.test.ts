import * as grpc from '@grpc/grpc-js';
import type { SchedulerError } from '../../src/errors';
import {
  SECRET_FETCH_ATTEMPTS,
  SECRET_RETRY_BACKOFF_MS,
  SecretManagerSource,
  type SecretManagerSourceOptions,
} from '../../src/secrets/secret-manager';
import { envSecretSource } from '../../src/secrets/env-source';
import { scrub } from '../../src/util/secrets';
import { FakeClock } from '../support/fake-clock';
import { useMetadataServer } from '../support/metadata-server';
import { startSecretManagerServer, type SecretManagerServer } from '../support/secret-manager-server';
import { captureLogger } from '../support/services';
import { rejection } from '../support/rejection';

// The real @google-cloud/secret-manager client (gRPC, google-gax) against a loopback Secret Manager.
const SECRET = 'projects/test-project/secrets/xmp-password';
const VALUE = 'xmp-s3cr3t-password-value';

let server: SecretManagerServer;
let clock: FakeClock;
const sources: SecretManagerSource[] = [];

beforeEach(async () => {
  server = await startSecretManagerServer();
  clock = new FakeClock();
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.close()));
  await server.close();
});

function source(options: Partial<SecretManagerSourceOptions> = {}): SecretManagerSource {
  const s = new SecretManagerSource({ client: server.clientOptions, clock, ...options });
  sources.push(s);
  return s;
}

/** Everything an error can carry into a log or a report. */
const exposed = (error: SchedulerError) =>
  JSON.stringify({ message: error.message, details: error.details, json: error.toJSON() });

describe('SecretManagerSource through the real client', () => {
  it('reads a version by number and latest, and registers the value for scrubbing', async () => {
    server.addVersion(SECRET, 'old-password-value');
    const v2 = server.addVersion(SECRET, VALUE);
    const s = source();

    expect(await s.get({ secret: `${SECRET}/versions/latest` })).toBe(VALUE);
    expect(await s.access(`${SECRET}/versions/1`)).toBe('old-password-value');
    expect(await s.get({ secret: v2 })).toBe(VALUE);
    expect(server.requests.map((r) => r.name)).toEqual([
      `${SECRET}/versions/latest`,
      `${SECRET}/versions/1`,
      `${SECRET}/versions/2`,
    ]);
    expect(server.requests[0]!.metadata['x-goog-request-params']).toBe(
      `name=${encodeURIComponent(`${SECRET}/versions/latest`)}`,
    );
    expect(scrub(`password=${VALUE}`)).toBe('password=[redacted]');
  });

  it('answers null for environment refs: they are not its business', async () => {
    expect(await source().get({ env: 'XMP_PASSWORD' })).toBeNull();
    expect(server.requests).toHaveLength(0);
  });

  it('fetches each value once: later and concurrent callers share it', async () => {
    server.addVersion(SECRET, VALUE);
    server.hangNext(1);
    const s = source();
    const name = `${SECRET}/versions/latest`;
    const concurrent = Array.from({ length: 6 }, () => s.get({ secret: name }));
    await server.waitForRequests(1);
    server.release();

    expect(await Promise.all(concurrent)).toEqual(Array(6).fill(VALUE));
    expect(await s.access(name)).toBe(VALUE);
    expect(server.requests).toHaveLength(1);
  });

  it('NOT_FOUND: get answers null, access throws SECRET_NOT_FOUND naming the secret; neither is cached', async () => {
    const s = source();
    const name = `${SECRET}/versions/latest`;

    expect(await s.get({ secret: name })).toBeNull();
    const error = await rejection(s.access(name));
    expect(error.code).toBe('SECRET_NOT_FOUND');
    expect(error.message).toBe(
      `secret ${name} does not exist or has no enabled version (NOT_FOUND: Secret Version [${name}] not found or has no versions.)`,
    );

    server.addVersion(SECRET, VALUE);
    expect(await s.get({ secret: name })).toBe(VALUE);
    expect(server.requests).toHaveLength(3);
  });

  it(`retries UNAVAILABLE and DEADLINE_EXCEEDED with backoff on the clock, logging no value`, async () => {
    server.addVersion(SECRET, VALUE);
    server.failNext(1, grpc.status.UNAVAILABLE);
    server.failNext(1, grpc.status.DEADLINE_EXCEEDED, 'deadline (test fault)');
    const { logger, entries } = captureLogger();

    expect(await source({ logger }).access(`${SECRET}/versions/latest`)).toBe(VALUE);
    expect(server.requests).toHaveLength(3);
    expect(clock.sleeps).toEqual([SECRET_RETRY_BACKOFF_MS, 2 * SECRET_RETRY_BACKOFF_MS]);
    expect(entries.map((e) => e.message)).toEqual([
      `Secret Manager: UNAVAILABLE: Secret Manager is unavailable (test fault); retrying secret ${SECRET}/versions/latest in 500 ms`,
      `Secret Manager: DEADLINE_EXCEEDED: deadline (test fault); retrying secret ${SECRET}/versions/latest in 1000 ms`,
    ]);
    expect(JSON.stringify(entries)).not.toContain(VALUE);
  });

  it(`gives up after ${SECRET_FETCH_ATTEMPTS} attempts with SECRET_UNAVAILABLE, at once (not the client's 600 s)`, async () => {
    server.addVersion(SECRET, VALUE);
    server.failNext(100);
    const error = await rejection(source().get({ secret: `${SECRET}/versions/latest` }));

    expect(error.code).toBe('SECRET_UNAVAILABLE');
    expect(error.message).toBe(
      `could not read secret ${SECRET}/versions/latest from Secret Manager after 3 attempts (UNAVAILABLE: Secret Manager is unavailable (test fault))`,
    );
    expect(server.requests).toHaveLength(SECRET_FETCH_ATTEMPTS);
    // Waits are on the injected clock: 0.5 s + 1 s of it, and no hidden retry inside the client.
    expect(clock.sleeps).toEqual([500, 1000]);
  });

  it('a server that does not answer: each attempt ends at its gRPC deadline, then the retry succeeds', async () => {
    server.addVersion(SECRET, VALUE);
    server.hangNext(1);
    const value = await source({ attemptTimeoutMs: 200 }).access(`${SECRET}/versions/latest`);

    expect(value).toBe(VALUE);
    expect(server.requests).toHaveLength(2);
    expect(clock.sleeps).toEqual([500]);
  });

  it('nothing listening: SECRET_UNAVAILABLE after the bounded retries', async () => {
    const closed = await startSecretManagerServer();
    const options = closed.clientOptions;
    await closed.close();
    // The client's own retry (up to 600 s) is off: were it on, this would outlive the test's timeout.
    const error = await rejection(source({ client: options }).access(`${SECRET}/versions/latest`));

    expect(error.code).toBe('SECRET_UNAVAILABLE');
    expect(error.message).toMatch(/after 3 attempts \(UNAVAILABLE: /);
    expect(clock.sleeps).toEqual([500, 1000]);
  });

  it('PERMISSION_DENIED: not retried, SECRET_FORBIDDEN saying which role is missing', async () => {
    server.failNext(1, grpc.status.PERMISSION_DENIED, 'Permission denied on resource');
    const error = await rejection(source().get({ secret: `${SECRET}/versions/3` }));

    expect(error.code).toBe('SECRET_FORBIDDEN');
    expect(error.message).toContain(`reading secret ${SECRET}/versions/3 was refused`);
    expect(error.message).toContain('roles/secretmanager.secretAccessor');
    expect(server.requests).toHaveLength(1);
  });

  it('a name that is not a version name: CONFIG_INVALID, and nothing is asked', async () => {
    const error = await rejection(source().get({ secret: SECRET }));

    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('projects/PROJECT/secrets/SECRET/versions/VERSION');
    expect(server.requests).toHaveLength(0);
  });

  it('never puts a secret value in an error message, even when the server echoes it', async () => {
    server.addVersion(SECRET, VALUE);
    const s = source();
    await s.access(`${SECRET}/versions/latest`);
    server.failNext(1, grpc.status.INTERNAL, `internal error while serving ${VALUE}`);
    const error = await rejection(s.access(`${SECRET}/versions/1`));

    expect(error.code).toBe('SECRET_UNAVAILABLE');
    expect(error.message).toContain('[redacted]');
    expect(exposed(error)).not.toContain(VALUE);
  });

  it('behind envSecretSource: environment variables first, Secret Manager for secret refs', async () => {
    server.addVersion(SECRET, VALUE);
    const secrets = envSecretSource({ SIRENE_TOKEN: 'sirene-env-token' }, source());

    expect(await secrets.get({ env: 'SIRENE_TOKEN' })).toBe('sirene-env-token');
    expect(await secrets.get({ secret: `${SECRET}/versions/latest` })).toBe(VALUE);
    expect(await secrets.get({ secret: 'projects/test-project/secrets/missing/versions/1' })).toBeNull();
    expect(server.requests.map((r) => r.name)).toEqual([
      `${SECRET}/versions/latest`,
      'projects/test-project/secrets/missing/versions/1',
    ]);
  });
});

describe('SecretManagerSource without Google credentials', () => {
  // That no unhandled rejection follows is checked in a plain Node process: tests/auth/plain-node.test.ts.
  it('fails with AUTH_NO_CREDENTIALS before building a client', async () => {
    const restore = useMetadataServer(null, 'none');
    try {
      const s = new SecretManagerSource({ clock });
      sources.push(s);
      const errors = await Promise.all([
        rejection(s.get({ secret: `${SECRET}/versions/latest` })),
        rejection(s.access(`${SECRET}/versions/1`)),
      ]);
      for (const error of errors) {
        expect(error.code).toBe('AUTH_NO_CREDENTIALS');
        expect(error.message).toContain('GOOGLE_APPLICATION_CREDENTIALS');
      }
    } finally {
      restore();
    }
  });
});
