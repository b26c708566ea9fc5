import type { RunRecord } from '../runtime/contract';
import { excerpt } from '../util/read-body';
import { isRetryableStatus, parseRetryAfter } from '../util/retry';
import type { TransportResponse } from './transport';
import type { CollectorOutcome } from './types';

/** One attempt's verdict: final, or worth another try (after `retryAfterMs` if the server said so). */
export type Attempt =
  | { final: true; outcome: Partial<CollectorOutcome> }
  | { final: false; outcome: Partial<CollectorOutcome>; retryAfterMs: number | null };

/** Turns a collector's HTTP answer into an outcome. */
export function classify(where: () => string, response: TransportResponse, nowMs: number): Attempt {
  const { status, body } = response;
  const parsed = parseJson(body);
  const run = runRecordOf(parsed);

  if (status >= 200 && status < 300) {
    if (body.length === 0) return { final: true, outcome: { status: 'success', httpStatus: status } };
    if (parsed === undefined) {
      const type = response.headers['content-type'] ?? 'no content type';
      return {
        final: true,
        outcome: {
          status: 'failed',
          httpStatus: status,
          error: `${where()} answered ${status} with ${type}, not JSON: "${excerpt(body, 120)}"`,
          errorType: 'InvalidResponse',
        },
      };
    }
    if (!run) return { final: true, outcome: { status: 'success', httpStatus: status, result: parsed } };
    // A 2xx carrying a failed run record is a permanent failure: the collector chose not to be retried.
    if (run.status === 'failed') {
      return {
        final: true,
        outcome: {
          status: 'failed',
          httpStatus: status,
          error: run.error,
          errorType: run.errorType ?? 'CollectorError',
          result: run.result,
          manifest: run.manifest,
        },
      };
    }
    if (run.status === 'skipped') {
      return {
        final: true,
        outcome: {
          status: 'skipped',
          httpStatus: status,
          reason: run.reason ?? 'skipped',
          error: run.error,
          result: run.result,
          ...(run.details ? { extra: run.details } : {}),
        },
      };
    }
    return {
      final: true,
      outcome: { status: 'success', httpStatus: status, result: run.result, manifest: run.manifest },
    };
  }

  const why = run?.error ?? (body.length > 0 ? excerpt(body) : response.statusText);
  const outcome: Partial<CollectorOutcome> = {
    status: 'failed',
    httpStatus: status,
    error: `${where()} answered ${status}${why ? `: ${why}` : ''}`,
    // A collector of ours names the cause (a reset upstream, a store outage); others are HTTP errors.
    errorType: run?.errorType ?? 'HTTPError',
    ...(run ? { result: run.result, manifest: run.manifest } : {}),
  };
  if (isRetryableStatus(status)) {
    return {
      final: false,
      outcome,
      retryAfterMs: parseRetryAfter(headerValue(response.headers['retry-after']), nowMs),
    };
  }
  return { final: true, outcome };
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function runRecordOf(parsed: unknown): RunRecord | null {
  const run = (parsed as { run?: unknown } | null)?.run;
  if (
    run &&
    typeof run === 'object' &&
    typeof (run as RunRecord).status === 'string' &&
    typeof (run as RunRecord).collector === 'string'
  ) {
    return run as RunRecord;
  }
  return null;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
