import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { startServer } from './http';

/**
 * Real network failures on loopback, for tests of how they are named: each one is produced by the
 * operating system or Node's TLS stack, never built by hand, and none leaves the machine.
 */

/**
 * A host name that cannot resolve, without asking any DNS server: its first label is 64 characters,
 * one over the 63-octet limit of RFC 1035 §2.3.4, so the resolver (glibc's getaddrinfo) refuses it
 * before building a query and Node reports ENOTFOUND. (Checked with strace: no packet is sent.)
 */
export const UNRESOLVABLE_HOST = `${'x'.repeat(64)}.invalid`;

/** A loopback URL nothing listens on: the port of a server just closed. */
export async function refusedUrl(): Promise<string> {
  const server = await startServer((_req, res) => {
    res.end();
  });
  await server.close();
  return server.url;
}

const FIXTURES = path.join(__dirname, 'fixtures');

/**
 * An HTTPS server on loopback with a self-signed certificate (tests/support/fixtures, made once with
 * `openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj /CN=localhost`; the key is a test
 * fixture, not a secret): clients that verify certificates refuse it (DEPTH_ZERO_SELF_SIGNED_CERT).
 */
export async function selfSignedServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = https.createServer(
    {
      key: readFileSync(path.join(FIXTURES, 'loopback-self-signed.key')),
      cert: readFileSync(path.join(FIXTURES, 'loopback-self-signed.crt')),
    },
    (_req, res) => res.end('{}'),
  );
  // The client's handshake failure surfaces on the server as a TLS error; it is expected here.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
