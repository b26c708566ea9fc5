import { mkdtempSync, rmSync } from 'node:fs';
import type * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startServer, type RecordedRequest } from './http';
import { mintIdToken } from './id-tokens';

/**
 * A GCE metadata server on an ephemeral loopback port, as google-auth-library and gcp-metadata talk to
 * it: every reply carries `Metadata-Flavor: Google`, requests without that header are refused (403) like
 * the real server does, and the identity endpoint issues an ID token (a JWT from `mintIdToken`) for the
 * audience it is asked for.
 */
export const IDENTITY_PATH = '/computeMetadata/v1/instance/service-accounts/default/identity';

/**
 * What the identity endpoint answers instead of a good token:
 * - `not-a-jwt`: an opaque string; `malformed`: three parts whose payload is not JSON;
 * - `expired`: a well-formed token whose `exp` has passed; `error-500`: a 500;
 * - `slow`: no answer until `releaseSlow()` (or `close()`).
 */
export type MetadataFault = 'not-a-jwt' | 'malformed' | 'expired' | 'error-500' | 'slow';

export interface IdentityRequest {
  audience: string | null;
  format: string | null;
}

export interface MetadataServer {
  /** `127.0.0.1:PORT`, the form GCE_METADATA_HOST takes. */
  host: string;
  requests: RecordedRequest[];
  /** The identity (ID token) requests, in order. */
  identityRequests(): IdentityRequest[];
  /** Every token issued, in order (tests check none of them leaks). */
  issued: string[];
  /** The next `count` identity requests (all of them when left out) answer `fault`. */
  fault(fault: MetadataFault, count?: number): void;
  /**
   * The next `count` probes of `/computeMetadata/v1/instance` (how google-auth-library detects Google
   * Cloud when METADATA_SERVER_DETECTION is unset) answer 503, as a metadata server still starting.
   */
  failProbes(count: number): void;
  /** Answers the identity requests held by the `slow` fault (with a good token). */
  releaseSlow(): void;
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

export interface MetadataServerOptions {
  /** The issuer's clock: tokens are minted with `iat` = now (tests pass their fake clock's `now`). */
  now?: () => number;
  lifetimeSeconds?: number;
  email?: string;
  projectId?: string;
}

export async function startMetadataServer(options: MetadataServerOptions = {}): Promise<MetadataServer> {
  const now = options.now ?? Date.now;
  const lifetimeSeconds = options.lifetimeSeconds ?? 3600;
  const issued: string[] = [];
  const faults: { fault: MetadataFault; remaining: number }[] = [];
  const held: (() => void)[] = [];
  let failingProbes = 0;

  const reply = (res: http.ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'metadata-flavor': 'Google', 'content-type': 'application/text' });
    res.end(text);
  };
  const goodToken = (audience: string) => {
    const token = mintIdToken(audience, {
      nowMs: now(),
      lifetimeSeconds,
      email: options.email ?? 'scheduler@test-project.iam.gserviceaccount.com',
    });
    issued.push(token);
    return token;
  };
  const nextFault = (): MetadataFault | null => {
    const next = faults[0];
    if (!next) return null;
    if (--next.remaining <= 0) faults.shift();
    return next.fault;
  };

  const server = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://metadata');
    if (req.headers['metadata-flavor'] !== 'Google') return reply(res, 403, 'Missing Metadata-Flavor:Google');
    switch (url.pathname) {
      case '/computeMetadata/v1/instance':
      case '/computeMetadata/v1/instance/':
        if (failingProbes > 0) {
          failingProbes--;
          return reply(res, 503, 'metadata server not ready');
        }
        return reply(res, 200, 'attributes/\nhostname\nid\nservice-accounts/\nzone\n');
      case '/computeMetadata/v1/project/project-id':
        return reply(res, 200, options.projectId ?? 'test-project');
      case IDENTITY_PATH: {
        const audience = identityOf(req.url ?? '').audience;
        if (!audience) return reply(res, 400, 'non-empty audience parameter required');
        switch (nextFault()) {
          case 'not-a-jwt':
            return reply(res, 200, 'opaque-not-a-jwt-token-value');
          case 'malformed':
            return reply(res, 200, 'eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24tcGF5bG9hZA.c2ln');
          case 'expired': {
            const token = mintIdToken(audience, { nowMs: now() - 2 * 3600_000, lifetimeSeconds: 3600 });
            issued.push(token);
            return reply(res, 200, token);
          }
          case 'error-500':
            return reply(res, 500, 'metadata server internal error');
          case 'slow':
            held.push(() => reply(res, 200, goodToken(audience)));
            return;
          case null:
            return reply(res, 200, goodToken(audience));
        }
        return;
      }
      default:
        return reply(res, 404, 'not found');
    }
  });

  return {
    host: new URL(server.url).host,
    requests: server.requests,
    identityRequests: () =>
      server.requests.filter((r) => r.path.startsWith(IDENTITY_PATH)).map((r) => identityOf(r.path)),
    issued,
    fault: (fault, count = Number.POSITIVE_INFINITY) => faults.push({ fault, remaining: count }),
    failProbes: (count) => {
      failingProbes = count;
    },
    releaseSlow: () => held.splice(0).forEach((answer) => answer()),
    waitForRequests: server.waitForRequests,
    close: server.close,
  };
}

/**
 * The audience as the server sees it. google-auth-library does not URL-encode it, so an audience with
 * a query string would arrive with that query inside the value: parsing after the first `?` keeps it.
 */
function identityOf(requestPath: string): IdentityRequest {
  const query = new URLSearchParams(requestPath.slice(requestPath.indexOf('?') + 1));
  return { audience: query.get('audience'), format: query.get('format') };
}

interface GaxiosInstance {
  defaults: { fetchImplementation?: typeof fetch };
}

/**
 * The gaxios instance gcp-metadata (under google-auth-library) makes its requests with. gaxios 7 loads
 * node-fetch with a dynamic `import()`, which jest refuses without --experimental-vm-modules ("A dynamic
 * import callback was invoked..."): in jest the same requests go through Node's own fetch instead.
 * Everything above the transport (google-auth-library, gcp-metadata, gaxios) is the real code.
 */
function metadataGaxios(): GaxiosInstance {
  const gcpMetadata = require.resolve('gcp-metadata', {
    paths: [path.dirname(require.resolve('google-auth-library'))],
  });
  const gaxios = require.resolve('gaxios', { paths: [path.dirname(gcpMetadata)] });
  return (require(gaxios) as { instance: GaxiosInstance }).instance;
}

const ENV_NAMES = [
  'GCE_METADATA_HOST',
  'GCE_METADATA_IP',
  'METADATA_SERVER_DETECTION',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'CLOUDSDK_CONFIG',
] as const;

/**
 * Points google-auth-library at `server` (or, with `null`, at no credentials at all) and returns a
 * function restoring the environment. `detection: 'assume-present'` skips the GCE probe; `'unset'`
 * removes METADATA_SERVER_DETECTION so the library probes `/computeMetadata/v1/instance` like it does
 * off Google Cloud. The tests' default `none` disables GCE detection, so ID-token suites must call this.
 * In jest, gcp-metadata's gaxios uses Node's fetch (see metadataGaxios).
 * CLOUDSDK_CONFIG goes to an empty directory: a developer's `gcloud auth application-default login`
 * must not change what the tests see.
 */
export function useMetadataServer(
  server: MetadataServer | null,
  detection: 'assume-present' | 'unset' | 'none' = 'assume-present',
): () => void {
  const saved = new Map(ENV_NAMES.map((name) => [name, process.env[name]]));
  const gaxios = metadataGaxios();
  const savedFetch = gaxios.defaults.fetchImplementation;
  gaxios.defaults.fetchImplementation = globalThis.fetch;
  const gcloudDir = mkdtempSync(path.join(tmpdir(), 'no-gcloud-'));
  for (const name of ENV_NAMES) delete process.env[name];
  process.env.CLOUDSDK_CONFIG = gcloudDir;
  if (server) process.env.GCE_METADATA_HOST = server.host;
  if (detection !== 'unset') process.env.METADATA_SERVER_DETECTION = detection;
  return () => {
    if (savedFetch) gaxios.defaults.fetchImplementation = savedFetch;
    else delete gaxios.defaults.fetchImplementation;
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(gcloudDir, { recursive: true, force: true });
  };
}
