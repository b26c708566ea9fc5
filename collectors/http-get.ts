import * as http from 'node:http';
import * as https from 'node:https';
import { PermanentError } from '../src/runtime/errors';
import { redactUrl } from '../src/util/url';

/**
 * A GET whose body is a Node stream, for bulk downloads. fetch hands its body over as a web
 * ReadableStream, and at a gigabyte that costs: every chunk goes through undici's internal Node stream
 * (which concatenates what it buffered into a new Buffer), then a web stream, then back into Node
 * streams for the store; the benchmark (bench/streams) measured it at ~0.5 s of CPU and a third of the
 * garbage collection per GB. node:http gives the socket's chunks as they come.
 *
 * It keeps what fetch gave the collectors: the same limits (undici's defaults, below), the same error
 * codes for them (so reports name a timeout as before), redirects followed, the run's signal aborting
 * the request and its body.
 */

/** undici's defaults, which fetch applied before: connect 10 s, headers 300 s, body idle 300 s. */
export const GET_LIMITS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 300_000,
  bodyTimeoutMs: 300_000,
  /** fetch's limit (WHATWG Fetch, "HTTP-redirect fetch", step 5). */
  maxRedirects: 20,
};
export type GetLimits = typeof GET_LIMITS;

export interface GetRequest {
  url: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  limits?: Partial<GetLimits>;
}

export interface GetResponse {
  status: number;
  headers: Headers;
  /** The body, as the socket delivers it; destroy it to stop the download. */
  body: http.IncomingMessage;
  /** The URL that answered (after redirects). */
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** GET `url`, following redirects; resolves once the final response's headers have arrived. */
export async function httpGet(request: GetRequest): Promise<GetResponse> {
  const limits = { ...GET_LIMITS, ...request.limits };
  let url = request.url;
  for (let redirects = 0; ; redirects++) {
    const response = await getOnce(url, request.headers, request.signal, limits);
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || location === null) return response;
    discardBody(response);
    if (redirects >= limits.maxRedirects)
      throw new PermanentError(`GET ${redactUrl(request.url)}: more than ${limits.maxRedirects} redirects`);
    url = nextUrl(url, location);
  }
}

/** Where a redirect leads: http(s) only, and never from https down to http. */
function nextUrl(from: string, location: string): string {
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw new PermanentError(`GET ${redactUrl(from)} redirected to an invalid URL`);
  }
  const downgrade = from.startsWith('https:') && target.protocol === 'http:';
  if ((target.protocol !== 'http:' && target.protocol !== 'https:') || downgrade)
    throw new PermanentError(
      `GET ${redactUrl(from)} redirected to ${redactUrl(target.toString())}, which is not followed (${downgrade ? 'https to http' : target.protocol})`,
    );
  return target.toString();
}

/** Lets a response go: a body-less answer keeps its connection, anything else closes it. */
export function discardBody(response: GetResponse): void {
  if (response.status === 304 || response.headers.get('content-length') === '0') response.body.resume();
  else response.body.destroy();
}

/** The first `max` bytes of a body (for an error message); the rest is not downloaded. */
export async function bodyExcerpt(response: GetResponse, max = 2048): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max) break;
    }
  } catch {
    // A body that breaks off is still an error status; the status is what matters.
  } finally {
    response.body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, max);
}

/** An error carrying undici's code and message for the same limit, so it is classified as before. */
function limitError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function getOnce(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  limits: GetLimits,
): Promise<GetResponse> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.get(url, { headers, signal });
    let response: http.IncomingMessage | null = null;
    let connectTimer: NodeJS.Timeout | null = null;
    const clearConnectTimer = () => {
      if (connectTimer) clearTimeout(connectTimer);
      connectTimer = null;
    };
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      connectTimer = setTimeout(
        () => req.destroy(limitError('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error')),
        limits.connectTimeoutMs,
      );
      socket.once('connect', clearConnectTimer);
    });
    // The socket's idle timeout: waiting for the headers, then between two chunks of the body.
    req.setTimeout(limits.headersTimeoutMs, () => {
      if (response) response.destroy(limitError('UND_ERR_BODY_TIMEOUT', 'Body Timeout Error'));
      else req.destroy(limitError('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error'));
    });
    req.on('error', (error) => {
      clearConnectTimer();
      if (response) response.destroy(error);
      else reject(error);
    });
    req.on('response', (res) => {
      clearConnectTimer();
      response = res;
      req.setTimeout(limits.bodyTimeoutMs);
      resolve({ status: res.statusCode ?? 0, headers: headersOf(res), body: res, url });
    });
  });
}

function headersOf(res: http.IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}
