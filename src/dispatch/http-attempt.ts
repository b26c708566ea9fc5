import { isRetryableAuthError } from '../auth/types';
import { errorMessage } from '../errors';
import { networkCause } from '../util/network-errors';
import { redactUrl } from '../util/url';
import { classify, type Attempt } from './classify-response';
import { isLeaseLost } from '../lease/lease';
import type { HeaderProvider } from '../auth/types';
import type { Clock } from '../util/clock';
import { TransportError, type HttpTransport, type TransportResponse } from './transport';
import { abortedOutcome, type CollectorOutcome, type DispatchTarget } from './types';

/** Collectors see who calls them. */
const USER_AGENT = 'collector-scheduler';

/** What one attempt uses of the dispatcher's dependencies. */
export interface AttemptDeps {
  transport: HttpTransport;
  clock: Clock;
  auth: HeaderProvider;
  maxResponseBytes: number;
}

/**
 * One POST of a dispatch payload to a collector, judged: final (success, or a failure no retry fixes)
 * or worth another attempt (network errors, 408, 429, 5xx, a token the metadata server may give later).
 */
export async function postAttempt(
  deps: AttemptDeps,
  target: DispatchTarget,
  attemptNumber: number,
  deadline: AbortSignal,
  extraHeaders: Record<string, string>,
): Promise<Attempt> {
  // Only failures need the description; parsing the URL for each success is measurable at scale.
  const where = () => `POST ${redactUrl(target.url)}`;
  let headers: Record<string, string>;
  try {
    headers = await deps.auth.headersFor(target.url);
  } catch (error) {
    const outcome: Partial<CollectorOutcome> = {
      status: 'failed',
      error: errorMessage(error),
      errorType: 'AuthError',
    };
    return isRetryableAuthError(error)
      ? { final: false, outcome, retryAfterMs: null }
      : { final: true, outcome };
  }
  let response: TransportResponse;
  try {
    response = await deps.transport.post(target.url, {
      headers: {
        ...headers,
        ...extraHeaders,
        'content-type': 'application/json',
        accept: 'application/json',
        'user-agent': USER_AGENT,
      },
      body: JSON.stringify({ ...target.payload, attempt: attemptNumber }),
      timeoutMs: target.timeoutMs,
      signal: deadline,
      maxBytes: deps.maxResponseBytes,
    });
  } catch (error) {
    if (deadline.aborted) return { final: true, outcome: stoppedOutcome(deadline) };
    if (!(error instanceof TransportError)) throw error;
    switch (error.kind) {
      case 'timeout':
        return {
          final: true,
          outcome: {
            status: 'failed',
            error: `${where()}: no answer within timeout_seconds (${target.timeoutMs / 1000} s)`,
            errorType: 'Timeout',
          },
        };
      case 'too-large':
        return {
          final: true,
          outcome: {
            status: 'failed',
            httpStatus: error.status,
            error: `${where()} answered ${error.status} with a body over ${deps.maxResponseBytes} bytes (scheduler.max_response_bytes); not read further`,
            errorType: 'ResponseTooLarge',
          },
        };
      default: {
        const cause = networkCause(error);
        const outcome: Partial<CollectorOutcome> = {
          status: 'failed',
          // The cause first, as upstream errors have it: a line cut to width still shows it.
          error: cause ? `${cause.description}: ${where()}` : `${where()} failed: ${error.message}`,
          errorType: cause?.type ?? 'ConnectionError',
        };
        return cause?.retryable ? { final: false, outcome, retryAfterMs: null } : { final: true, outcome };
      }
    }
  }
  return classify(where, response, deps.clock.now());
}

/** A call cut short by its signal: the execution's deadline or a stop signal, or a lost group lease. */
export function stoppedOutcome(signal: AbortSignal): Partial<CollectorOutcome> {
  const reason: unknown = signal.reason;
  if (isLeaseLost(reason))
    return { status: 'failed', error: reason.message, errorType: reason.errorType, reason: reason.reason };
  return abortedOutcome(reason);
}
