import type { RetryPolicy } from '../config/types';
import { BodyTooLargeError, excerpt, readBounded } from '../util/read-body';
import { networkCause } from '../util/network-errors';
import { isProgrammingTypeError, parseRetryAfter, policyFromConfig, retry } from '../util/retry';
import { errorMessage } from '../errors';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { redactUrl } from '../util/url';
import { PermanentError, UpstreamHttpError, UpstreamNetworkError } from './errors';

/** How collectors retry upstream APIs unless they say otherwise. */
export const UPSTREAM_RETRY: RetryPolicy = { attempts: 4, minBackoffSeconds: 1, maxBackoffSeconds: 30 };

/** An upstream body larger than this is refused rather than buffered (stream large files instead). */
export const MAX_UPSTREAM_BYTES = 256 * 1024 * 1024;

export interface UpstreamDeps {
  fetch: typeof fetch;
  clock: Clock;
  signal: AbortSignal;
  log: Logger;
  random?: () => number;
}

export interface UpstreamRequest {
  url: string;
  method?: 'GET' | 'POST' | 'HEAD';
  headers?: Record<string, string>;
  body?: string;
  maxBytes?: number;
  retry?: RetryPolicy;
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

/**
 * One upstream call with the shared retry policy: network errors, 408, 429 and 5xx are retried with
 * full-jitter backoff or the server's Retry-After; other 4xx fail at once as a permanent error.
 */
export async function requestUpstream(
  deps: UpstreamDeps,
  request: UpstreamRequest,
): Promise<UpstreamResponse> {
  const method = request.method ?? 'GET';
  const policy = request.retry ?? UPSTREAM_RETRY;
  const maxBytes = request.maxBytes ?? MAX_UPSTREAM_BYTES;
  return retry(
    async () => {
      let response: Response;
      try {
        response = await deps.fetch(request.url, {
          method,
          ...(request.headers ? { headers: request.headers } : {}),
          ...(request.body !== undefined ? { body: request.body } : {}),
          signal: deps.signal,
        });
      } catch (error) {
        if (deps.signal.aborted) throw deps.signal.reason;
        const cause = networkCause(error);
        if (cause) throw new UpstreamNetworkError(method, request.url, cause, error);
        throw new PermanentError(`${method} ${redactUrl(request.url)} failed: ${errorMessage(error)}`, {
          cause: error,
        });
      }
      let body: Buffer;
      try {
        body = await readBounded(response, maxBytes);
      } catch (error) {
        if (error instanceof BodyTooLargeError)
          throw new PermanentError(`${method} ${redactUrl(request.url)}: ${error.message}`);
        throw error;
      }
      if (response.status >= 200 && response.status < 300)
        return { status: response.status, headers: response.headers, body };
      throw new UpstreamHttpError(
        method,
        request.url,
        response.status,
        excerpt(body),
        parseRetryAfter(response.headers.get('retry-after'), deps.clock.now()),
      );
    },
    {
      policy: policyFromConfig(policy),
      clock: deps.clock,
      signal: deps.signal,
      ...(deps.random ? { random: deps.random } : {}),
      retryable: worthRetrying,
      retryAfterMs: (error) => (error instanceof UpstreamHttpError ? error.retryAfterMs : null),
      onRetry: ({ failure, attempt, delayMs }) =>
        deps.log.warn(`upstream call failed, retrying in ${delayMs} ms`, {
          error: errorMessage(failure),
          upstreamAttempt: attempt - 1,
        }),
    },
  );
}

function worthRetrying(error: unknown): boolean {
  // A bug is never retried: anything not an Error, and a TypeError other than fetch's network failures.
  if (!(error instanceof Error) || isProgrammingTypeError(error)) return false;
  if (error instanceof PermanentError) return false;
  if (error instanceof UpstreamHttpError || error instanceof UpstreamNetworkError) return error.retryable;
  return true;
}

/** GET a JSON document; a body that is not JSON is a permanent error naming the URL. */
export async function getJson<T>(
  deps: UpstreamDeps,
  url: string,
  request: Omit<UpstreamRequest, 'url'> = {},
): Promise<T> {
  const response = await requestUpstream(deps, {
    ...request,
    url,
    headers: { accept: 'application/json', ...request.headers },
  });
  try {
    return JSON.parse(response.body.toString('utf8')) as T;
  } catch {
    throw new PermanentError(
      `${request.method ?? 'GET'} ${redactUrl(url)} did not answer JSON: "${excerpt(response.body, 120)}"`,
      {},
      'UPSTREAM_INVALID',
    );
  }
}
