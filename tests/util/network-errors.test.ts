import * as http from 'node:http';
import { networkCause } from '../../src/util/network-errors';
import { networkErrorCode } from '../../src/util/retry';
import { collectorServer } from '../support/collector-servers';
import type { TestServer } from '../support/http';
import { refusedUrl, selfSignedServer, UNRESOLVABLE_HOST } from '../support/network-failures';

let reset: TestServer;
let tls: { url: string; close(): Promise<void> };
let refused: string;
beforeAll(async () => {
  reset = await collectorServer({ kind: 'reset' });
  tls = await selfSignedServer();
  refused = await refusedUrl();
});
afterAll(async () => {
  await reset.close();
  await tls.close();
});

/** What fetch (undici) threw for `url`. */
async function fetchError(url: string): Promise<unknown> {
  try {
    await fetch(url);
  } catch (error) {
    return error;
  }
  throw new Error(`${url} answered`);
}

/** What node:http(s) emitted for `url`. */
function httpError(url: string): Promise<unknown> {
  return new Promise((resolve) => {
    const lib = url.startsWith('https:') ? require('node:https') : http;
    (lib as typeof http).get(url, () => resolve(new Error('answered'))).on('error', resolve);
  });
}

const cases = [
  {
    what: 'a host that does not resolve',
    url: () => `http://${UNRESOLVABLE_HOST}/x`,
    type: 'NameResolutionError',
    code: 'ENOTFOUND',
    description: new RegExp(`^could not resolve host ${UNRESOLVABLE_HOST} \\(ENOTFOUND\\)$`),
    retryable: false,
  },
  {
    what: 'a refused connection',
    url: () => `${refused}/x`,
    type: 'ConnectionRefusedError',
    code: 'ECONNREFUSED',
    description: /^connection refused \(ECONNREFUSED\)$/,
    retryable: true,
  },
  {
    what: 'a connection the server drops',
    url: () => `${reset.url}/x`,
    type: 'ConnectionResetError',
    code: /^(ECONNRESET|UND_ERR_SOCKET)$/,
    description: /^(connection reset|connection closed by the other side) \((ECONNRESET|UND_ERR_SOCKET)\)$/,
    retryable: true,
  },
  {
    what: 'a self-signed certificate',
    url: () => `${tls.url}/x`,
    type: 'SSLError',
    code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    description: /^TLS failed: self[- ]signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/,
    retryable: false,
  },
] as const;

describe.each([
  ['fetch', fetchError],
  ['node:http', httpError],
] as const)('network failures from %s keep their cause', (_client, errorOf) => {
  it.each(cases)('$what: $type', async ({ url, type, code, description, retryable }) => {
    const error = await errorOf(url());
    const cause = networkCause(error);
    expect(cause).toMatchObject({ type, retryable });
    expect(cause!.code).toMatch(code);
    expect(cause!.description).toMatch(description);
    // Only what another attempt may fix is a retryable network code.
    expect(networkErrorCode(error) !== null).toBe(retryable);
  });
});

describe('network failures built the way undici builds them', () => {
  // undici's errors (docs/api/Errors.md) come wrapped in fetch's TypeError "fetch failed".
  const wrapped = (code: string, message: string) =>
    new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });

  it.each([
    ['UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error', 'ConnectTimeout', true],
    ['ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:443', 'ConnectTimeout', true],
    ['UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error', 'ReadTimeout', true],
    ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN api.example', 'NameResolutionError', true],
    ['CERT_HAS_EXPIRED', 'certificate has expired', 'SSLError', false],
    ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames", 'SSLError', false],
  ] as const)('%s ("%s") is a %s, retryable: %s', (code, message, type, retryable) => {
    expect(networkCause(wrapped(code, message))).toMatchObject({ code, type, retryable });
  });

  it('names a fetch failure of unknown cause by its own message, not as a reset', () => {
    const cause = networkCause(wrapped('UND_ERR_SOMETHING_NEW', 'something new went wrong'));
    expect(cause).toEqual({
      code: 'UND_ERR_SOMETHING_NEW',
      type: 'ConnectionError',
      description: 'something new went wrong (UND_ERR_SOMETHING_NEW)',
      retryable: true,
    });
    expect(networkCause(new TypeError('fetch failed'))).toMatchObject({ code: 'UNKNOWN', retryable: true });
  });

  it('is not fooled by errors that are not network failures', () => {
    expect(networkCause(new TypeError('Invalid URL'))).toBeNull();
    expect(networkCause(new Error('boom'))).toBeNull();
    expect(networkCause(Object.assign(new Error('x'), { code: 'STORE_UNAVAILABLE' }))).toBeNull();
  });
});
