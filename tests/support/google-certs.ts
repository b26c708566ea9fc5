import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as forge from 'node-forge';
import { json, startServer, type TestServer } from './http';

/**
 * Google-signed ID tokens, offline: a key pair made here, a self-signed certificate for it, a loopback
 * server that publishes the certificates the way Google does, and RS256 JWTs signed with the key.
 *
 * Format facts, and where they come from:
 * - `https://www.googleapis.com/oauth2/v1/certs` answers a JSON object mapping each key id (`kid`) to a
 *   PEM X.509 certificate, with `Cache-Control: ... max-age=N`; google-auth-library's
 *   `OAuth2Client.getFederatedSignonCertsAsync` reads exactly that (the PEM format on Node) and caches
 *   for max-age (google-auth-library 10.x, src/auth/oauth2client.ts; /work/shared/TESTING-GCP.md).
 * - The token header is `{alg: RS256, kid, typ: JWT}`; `verifySignedJwtWithCertsAsync` looks the
 *   certificate up by `kid` and verifies RSA-SHA256 over `header.payload` (same file).
 * - Claims of the OIDC tokens Cloud Scheduler and Cloud Tasks send: `iss` https://accounts.google.com,
 *   `aud` the configured audience (by default the target URL; Cloud Tasks' OidcToken reference),
 *   `azp`/`sub` the service account's id, `email` the service account, `email_verified: true`, `iat`,
 *   `exp` one hour later (Google's OpenID Connect docs, "An ID token's payload"; a decoded Cloud
 *   Scheduler token in salrashid.dev's "Automatic OIDC" article).
 *
 * The certificate is built with node-forge (node:crypto makes keys but not certificates); the key
 * pair itself is node:crypto's, made per test run, so no private key is kept in the repository.
 */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  certificatePem: string;
}

export function makeSigningKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01';
  // Validity is not checked by the verifier; a fixed window keeps the certificate deterministic.
  cert.validity.notBefore = new Date('2020-01-01T00:00:00Z');
  cert.validity.notAfter = new Date('2100-01-01T00:00:00Z');
  const name = [{ name: 'commonName', value: 'loopback-securetoken.system.gserviceaccount.com' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(
    forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
    forge.md.sha256.create(),
  );
  return { kid, privateKey, certificatePem: forge.pki.certificateToPem(cert) };
}

export interface GoogleCertsServer extends TestServer {
  /** The URL for `scheduler.incoming_auth.certs_url`. */
  certsUrl: string;
}

/** Publishes the certificates of `keys` at /oauth2/v1/certs, as www.googleapis.com does. */
export async function startGoogleCertsServer(keys: readonly SigningKey[]): Promise<GoogleCertsServer> {
  const server = await startServer((req, res) => {
    if (req.url !== '/oauth2/v1/certs') return json(res, 404, { error: 'not found' });
    json(res, 200, Object.fromEntries(keys.map((k) => [k.kid, k.certificatePem])), {
      'cache-control': 'public, max-age=21600, must-revalidate, no-transform',
    });
  });
  return Object.assign(server, { certsUrl: `${server.url}/oauth2/v1/certs` });
}

export interface IdTokenClaims {
  iss?: string;
  aud?: string;
  sub?: string;
  azp?: string;
  email?: string;
  email_verified?: boolean;
  iat?: number;
  exp?: number;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Claims as Cloud Scheduler / Cloud Tasks send them, valid now. google-auth-library checks `iat` and
 * `exp` against the system clock (it takes no clock), so they are set from it, an hour either way of
 * the 5-minute skew it allows: no test depends on how long it takes.
 */
export function serviceAccountClaims(
  aud: string,
  email: string,
  overrides: IdTokenClaims = {},
): IdTokenClaims {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'https://accounts.google.com',
    aud,
    azp: '104683000000000000001',
    sub: '104683000000000000001',
    email,
    email_verified: true,
    iat: now - 60,
    exp: now + 3600,
    ...overrides,
  };
}

/** An RS256 JWT signed with `key` (its header naming `headerKid`, by default the key's own kid). */
export function signIdToken(key: SigningKey, claims: IdTokenClaims, headerKid: string = key.kid): string {
  const signed = `${b64url({ alg: 'RS256', kid: headerKid, typ: 'JWT' })}.${b64url(claims)}`;
  const signature = createSign('RSA-SHA256').update(signed).sign(key.privateKey).toString('base64url');
  return `${signed}.${signature}`;
}

/** An unsigned JWT (`alg: none`, empty signature), naming a kid the server publishes. */
export function unsignedIdToken(kid: string, claims: IdTokenClaims): string {
  return `${b64url({ alg: 'none', kid, typ: 'JWT' })}.${b64url(claims)}.`;
}
