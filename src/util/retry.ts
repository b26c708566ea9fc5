import { networkCause } from './network-errors';

/**
 * The one way this code base retries. A policy is data (how many attempts, how the waits grow, how
 * much of a server's Retry-After is honoured, how long retrying may take in all); the loop is written
 * once, below, on an injected clock and abort signal. Callers differ only in their policy and in what
 * they count as worth another attempt (storage's RETRYABLE_ERR_FN_DEFAULT and ky's retry-timing.ts are
 * the models: one pure predicate, one pure Retry-After parser).
 */
export interface RetryPolicy {
  /** Attempts in all, the first one included; Infinity retries until `budgetMs` runs out. */
  attempts: number;
  /** The ceiling of the wait after the first failure, in ms; it doubles after each further one. */
  baseDelayMs: number;
  /** No backoff ceiling grows past this, in ms (Infinity: no cap). */
  maxDelayMs: number;
  /**
   * `full`: a uniform wait in [0, ceiling) (AWS Architecture Blog, "Exponential Backoff and Jitter"),
   * so that many callers' retries spread out instead of arriving together; `none`: the ceiling itself.
   * @default 'full'
   */
  jitter?: 'full' | 'none';
  /**
   * A server asking (Retry-After) for a longer wait than this ends the retries at once, with its answer.
   * @default Infinity
   */
  maxRetryAfterMs?: number;
  /**
   * Retrying stops once the time spent plus the next wait would exceed this, in ms.
   * @default Infinity
   */
  budgetMs?: number;
}

/** The clock the waits run on: `sleep` rejects with the signal's reason when it aborts first. */
export interface RetryClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A policy from the config's shape (`retry:` of a collector: attempts and backoff bounds in seconds). */
export function policyFromConfig(
  retry: { attempts: number; minBackoffSeconds: number; maxBackoffSeconds: number },
  extra: Pick<RetryPolicy, 'jitter' | 'maxRetryAfterMs' | 'budgetMs'> = {},
): RetryPolicy {
  return {
    attempts: retry.attempts,
    baseDelayMs: retry.minBackoffSeconds * 1000,
    maxDelayMs: retry.maxBackoffSeconds * 1000,
    ...extra,
  };
}

/** 408, 429 and 5xx are worth retrying; other 4xx will fail the same way again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * The code of a network failure worth another attempt (a reset, a refusal, a timeout), null for
 * anything else: a host that does not resolve or a refused certificate fails the same way again.
 */
export function networkErrorCode(error: unknown): string | null {
  const cause = networkCause(error);
  return cause?.retryable ? cause.code : null;
}

/** The messages of fetch's own network failures (undici's `fetch failed` and `terminated` on Node). */
const FETCH_NETWORK_MESSAGES = new Set(['fetch failed', 'terminated', 'network error', 'Failed to fetch']);

/**
 * A TypeError that is not one of fetch's network failures: a bug, which no retry fixes (p-retry's rule,
 * which the upstream calls followed before this helper).
 */
export function isProgrammingTypeError(error: unknown): boolean {
  return error instanceof TypeError && !FETCH_NETWORK_MESSAGES.has(error.message);
}

/**
 * The wait a `Retry-After` header asks for, in ms: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/** The backoff after the n-th failed attempt: min(cap, base·2^(n-1)), jittered as the policy says. */
export function backoffMs(
  failedAttempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempt - 1));
  return policy.jitter === 'none' ? ceiling : Math.floor(random() * ceiling);
}

/**
 * The same backoff for a policy in the config's shape (seconds), as the HTTP dispatcher and the
 * collectors' upstream calls use it.
 */
export function backoffDelayMs(
  failedAttempt: number,
  policy: { minBackoffSeconds: number; maxBackoffSeconds: number },
  random: () => number = Math.random,
): number {
  return backoffMs(failedAttempt, policyFromConfig({ attempts: 1, ...policy }), random);
}

/** Why retrying stopped before the attempts ran out (`attempts`) or with them. */
export type RetryStop =
  | { kind: 'attempts' }
  | { kind: 'retry-after-over-cap'; retryAfterMs: number; capMs: number }
  | { kind: 'retry-after-past-deadline'; retryAfterMs: number; msLeft: number }
  | { kind: 'no-time'; msLeft: number }
  | { kind: 'budget'; elapsedMs: number };

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; stop: RetryStop };

/**
 * Whether to try again after the n-th failed attempt, and after how long: the server's Retry-After
 * when it gave one (unless longer than `maxRetryAfterMs`), else the backoff; never a wait that ends
 * at or past the caller's deadline (`msLeft`), nor one that takes retrying past its time budget.
 */
export function decideRetry(
  failedAttempt: number,
  policy: RetryPolicy,
  context: { retryAfterMs?: number | null; msLeft?: number; elapsedMs?: number; random?: () => number } = {},
): RetryDecision {
  if (failedAttempt >= policy.attempts) return { retry: false, stop: { kind: 'attempts' } };
  const msLeft = context.msLeft ?? Number.POSITIVE_INFINITY;
  const retryAfterMs = context.retryAfterMs ?? null;
  let delayMs: number;
  if (retryAfterMs !== null) {
    const capMs = policy.maxRetryAfterMs ?? Number.POSITIVE_INFINITY;
    if (retryAfterMs > capMs)
      return { retry: false, stop: { kind: 'retry-after-over-cap', retryAfterMs, capMs } };
    if (retryAfterMs >= msLeft)
      return { retry: false, stop: { kind: 'retry-after-past-deadline', retryAfterMs, msLeft } };
    delayMs = retryAfterMs;
  } else {
    delayMs = backoffMs(failedAttempt, policy, context.random);
    if (delayMs >= msLeft) return { retry: false, stop: { kind: 'no-time', msLeft } };
  }
  const elapsedMs = context.elapsedMs ?? 0;
  if (policy.budgetMs !== undefined && elapsedMs + delayMs > policy.budgetMs)
    return { retry: false, stop: { kind: 'budget', elapsedMs } };
  return { retry: true, delayMs };
}

/** One attempt's result, for callers whose failures are values rather than exceptions. */
export type AttemptResult<T, F> =
  { ok: true; value: T } | { ok: false; failure: F; retryable: boolean; retryAfterMs?: number | null };

export type RetryResult<T, F> =
  | { ok: true; value: T; attempts: number }
  | {
      ok: false;
      failure: F;
      attempts: number;
      /** `final`: the failure was not worth another attempt; `aborted`: the signal ended a wait. */
      stop: RetryStop | { kind: 'final' } | { kind: 'aborted'; reason: unknown };
    };

export interface RetryOptions<F> {
  policy: RetryPolicy;
  clock: RetryClock;
  /** Aborts the waits between attempts (the attempts themselves take it from the caller). */
  signal?: AbortSignal;
  /** For the jitter; injectable so that tests get exact waits. */
  random?: () => number;
  /** The caller's deadline on `clock`: no wait ends at or past it. */
  deadlineAtMs?: number;
  /** Told before each wait: `attempt` is the one about to follow it. */
  onRetry?: (event: { failure: F; attempt: number; delayMs: number }) => void;
}

/**
 * Runs `attempt` (numbered from 1) until it succeeds, fails for good, or the policy says to stop. The
 * failure that ended it is returned with why, never lost.
 */
export async function retryResult<T, F>(
  attempt: (n: number) => Promise<AttemptResult<T, F>>,
  options: RetryOptions<F>,
): Promise<RetryResult<T, F>> {
  const { clock, policy } = options;
  const started = policy.budgetMs === undefined ? 0 : clock.now();
  for (let n = 1; ; n++) {
    const result = await attempt(n);
    if (result.ok) return { ok: true, value: result.value, attempts: n };
    const { failure } = result;
    if (!result.retryable) return { ok: false, failure, attempts: n, stop: { kind: 'final' } };
    const now = policy.budgetMs === undefined && options.deadlineAtMs === undefined ? 0 : clock.now();
    const decision = decideRetry(n, policy, {
      retryAfterMs: result.retryAfterMs ?? null,
      elapsedMs: now - started,
      ...(options.deadlineAtMs === undefined ? {} : { msLeft: options.deadlineAtMs - now }),
      ...(options.random ? { random: options.random } : {}),
    });
    if (!decision.retry) return { ok: false, failure, attempts: n, stop: decision.stop };
    options.onRetry?.({ failure, attempt: n + 1, delayMs: decision.delayMs });
    try {
      await clock.sleep(decision.delayMs, options.signal);
    } catch (reason) {
      return { ok: false, failure, attempts: n, stop: { kind: 'aborted', reason } };
    }
  }
}

export interface RetryCallOptions extends RetryOptions<unknown> {
  /** Whether a failure is worth another attempt. Programming errors never should be. */
  retryable: (error: unknown) => boolean;
  /** The wait the failure's server asked for (Retry-After), if any. */
  retryAfterMs?: (error: unknown) => number | null;
}

/**
 * `retryResult` for callers whose failures are exceptions: resolves with the first success, or rejects
 * with the last failure (a wait cut short by the signal rejects with the signal's reason).
 */
export async function retry<T>(attempt: (n: number) => Promise<T>, options: RetryCallOptions): Promise<T> {
  const result = await retryResult<T, unknown>(async (n) => {
    options.signal?.throwIfAborted();
    try {
      return { ok: true, value: await attempt(n) };
    } catch (failure) {
      if (!options.retryable(failure)) return { ok: false, failure, retryable: false };
      return { ok: false, failure, retryable: true, retryAfterMs: options.retryAfterMs?.(failure) ?? null };
    }
  }, options);
  if (result.ok) return result.value;
  if (result.stop.kind === 'aborted') throw result.stop.reason;
  throw result.failure;
}
