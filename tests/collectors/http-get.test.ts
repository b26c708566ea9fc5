import type { ServerResponse } from 'node:http';
import { httpGet, type GetResponse } from '../../collectors/http-get';
import { networkCause } from '../../src/util/network-errors';
import { PermanentError } from '../../src/runtime/errors';
import { startServer, type TestServer } from '../support/http';
import { refusedUrl, selfSignedServer } from '../support/network-failures';

let server: TestServer | null = null;
const held: ServerResponse[] = [];

afterEach(async () => {
  for (const res of held.splice(0)) res.destroy();
  await server?.close();
  server = null;
});

async function read(response: GetResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The error `promise` failed with, for assertions on its code and classification. */
async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

const get = (url: string, extra: Partial<Parameters<typeof httpGet>[0]> = {}) =>
  httpGet({ url, headers: { accept: '*/*' }, signal: new AbortController().signal, ...extra });

describe('httpGet (bulk downloads)', () => {
  it('gives the status, the headers and the body as a Node stream, sending the headers asked for', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(200, { etag: '"v1"', 'content-length': 5 }).end('hello');
    });
    const response = await get(`${server.url}/file.gz`, { headers: { accept: 'application/gzip' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(await read(response)).toBe('hello');
    expect(server.requests[0]).toMatchObject({ path: '/file.gz', headers: { accept: 'application/gzip' } });
  });

  it('follows relative and absolute redirects to the file, as fetch did', async () => {
    server = await startServer((req, res) => {
      if (req.url === '/a') res.writeHead(302, { location: '/b' }).end('moved');
      else if (req.url === '/b') res.writeHead(307, { location: `${server!.url}/c` }).end();
      else res.writeHead(200).end('here');
    });
    const response = await get(`${server.url}/a`);
    expect(response.url).toBe(`${server.url}/c`);
    expect(await read(response)).toBe('here');
    expect(server.requests.map((r) => r.path)).toEqual(['/a', '/b', '/c']);
  });

  it('refuses a redirect loop and a redirect out of http(s), naming them', async () => {
    server = await startServer((req, res) => {
      if (req.url === '/loop') res.writeHead(301, { location: '/loop' }).end();
      else res.writeHead(302, { location: 'file:///etc/passwd' }).end();
    });
    const loop = await failure(get(`${server.url}/loop`, { limits: { maxRedirects: 3 } }));
    expect(loop).toBeInstanceOf(PermanentError);
    expect(loop.message).toMatch(/more than 3 redirects/);
    expect(server.requests).toHaveLength(4);
    const file = await failure(get(`${server.url}/elsewhere`));
    expect(file).toBeInstanceOf(PermanentError);
    expect(file.message).toMatch(/redirected to file:\/\/\/etc\/passwd, which is not followed \(file:\)/);
  });

  it('names a server that never answers a headers timeout (ReadTimeout), as fetch did', async () => {
    server = await startServer((_req, res) => {
      held.push(res);
    });
    const error = await failure(get(server.url, { limits: { headersTimeoutMs: 50 } }));
    expect(error.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(networkCause(error)).toMatchObject({ type: 'ReadTimeout', retryable: true });
  });

  it('names a body that stops flowing a body timeout (ReadTimeout), on the body stream', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('the first bytes');
      held.push(res);
    });
    const response = await get(server.url, { limits: { bodyTimeoutMs: 50 } });
    const error = await failure(read(response));
    expect(error.code).toBe('UND_ERR_BODY_TIMEOUT');
    expect(networkCause(error)).toMatchObject({
      type: 'ReadTimeout',
      description: 'timed out reading the response body (UND_ERR_BODY_TIMEOUT)',
    });
  });

  it('names a body cut mid-way a connection reset, retryable', async () => {
    server = await startServer((req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('only part', () => req.socket.destroy());
    });
    const error = await failure(read(await get(server.url)));
    expect(networkCause(error)).toMatchObject({ type: 'ConnectionResetError', retryable: true });
  });

  it('stops the download when the run is aborted, with the run’s reason', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('the first bytes');
      held.push(res);
    });
    const controller = new AbortController();
    const response = await get(server.url, { signal: controller.signal });
    const reading = failure(read(response));
    controller.abort(new Error('run timed out'));
    expect((await reading).name).toBe('AbortError');
    expect(response.body.destroyed).toBe(true);
    const before = await failure(get(server.url, { signal: controller.signal }));
    expect(before.name).toBe('AbortError');
  });

  it('classifies a refused connection and a refused certificate as fetch’s errors were', async () => {
    const refused = await failure(get(await refusedUrl()));
    expect(networkCause(refused)).toMatchObject({ type: 'ConnectionRefusedError', retryable: true });
    const tls = await selfSignedServer();
    try {
      const error = await failure(get(tls.url));
      expect(networkCause(error)).toMatchObject({
        type: 'SSLError',
        code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
        retryable: false,
      });
    } finally {
      await tls.close();
    }
  });
});
