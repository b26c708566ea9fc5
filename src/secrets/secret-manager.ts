import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { assertGoogleCredentials } from '../auth/credentials';
import { SchedulerError, errorMessage, isSchedulerError } from '../errors';
import { systemClock, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { retryResult, type RetryPolicy } from '../util/retry';
import { Memo, MemoMap } from '../util/single-flight';
import { registerSecret, scrub } from '../util/secrets';
import type { CredentialRef, SecretSource } from './types';

/**
 * Tries per secret fetch when Secret Manager answers UNAVAILABLE or DEADLINE_EXCEEDED. The client's own
 * retry (2 s to 60 s backoff for up to 600 s) is switched off: a cold start must fail in seconds.
 * @default 3
 */
export const SECRET_FETCH_ATTEMPTS = 3;
/**
 * The wait before the second try; it doubles for each further one.
 * @default 500 ms
 */
export const SECRET_RETRY_BACKOFF_MS = 500;
/**
 * The gRPC deadline of one try.
 * @default 5 s
 */
export const SECRET_ATTEMPT_TIMEOUT_MS = 5_000;

type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

/** Where the client connects; tests point it at a loopback server. In production, leave it out. */
export type SecretManagerClientOptions = Pick<
  ClientOptions,
  'apiEndpoint' | 'port' | 'sslCreds' | 'universeDomain'
>;

export interface SecretManagerSourceOptions {
  client?: SecretManagerClientOptions;
  clock?: Clock;
  logger?: Logger;
  attempts?: number;
  backoffMs?: number;
  attemptTimeoutMs?: number;
}

/** `projects/P/secrets/S/versions/V`, V a number or `latest`. */
const VERSION_NAME = /^projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+$/;

/** gRPC status codes the source tells apart (numbers, as google-gax reports them). */
const GRPC = {
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
};
const RETRYABLE = new Set([GRPC.UNAVAILABLE, GRPC.DEADLINE_EXCEEDED]);

/**
 * Secret Manager versions (`{ secret: 'projects/P/secrets/S/versions/V' }` refs) through
 * @google-cloud/secret-manager, loaded on first use. Each value is fetched once per instance (cold
 * start) and kept; callers asking for one secret at the same time share one fetch. Values are registered
 * for scrubbing the moment they arrive; messages name the secret, never its value.
 *
 * `get` answers null for a secret that does not exist (the caller decides: a collector skips with
 * missing_credentials); `access` throws SECRET_NOT_FOUND instead. Both throw SECRET_UNAVAILABLE when
 * Secret Manager cannot be reached after a bounded retry, and AUTH_NO_CREDENTIALS without credentials.
 */
export class SecretManagerSource implements SecretSource {
  private readonly clock: Clock;
  /** Exponential waits from `backoffMs`, doubling, without jitter (one caller per secret and instance). */
  private readonly retryPolicy: RetryPolicy;
  private readonly attemptTimeoutMs: number;
  /**
   * The client, built once. Credentials are checked first: a gax client built without them leaves an
   * unhandled rejection behind. Insecure channel credentials (a loopback test server) need none.
   */
  private readonly client = new Memo<SecretManagerServiceClient>(async () => {
    const options = this.options.client;
    if (!options?.sslCreds) await assertGoogleCredentials();
    const { SecretManagerServiceClient } =
      require('@google-cloud/secret-manager') as typeof import('@google-cloud/secret-manager');
    return new SecretManagerServiceClient(options ? { ...options } : undefined);
  });
  private readonly values = new MemoMap<string, string>();

  constructor(private readonly options: SecretManagerSourceOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.retryPolicy = {
      attempts: Math.max(1, options.attempts ?? SECRET_FETCH_ATTEMPTS),
      baseDelayMs: options.backoffMs ?? SECRET_RETRY_BACKOFF_MS,
      maxDelayMs: Number.POSITIVE_INFINITY,
      jitter: 'none',
    };
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? SECRET_ATTEMPT_TIMEOUT_MS;
  }

  /** The value, or null when the secret or version does not exist. Environment refs are not ours: null. */
  async get(ref: CredentialRef): Promise<string | null> {
    if (!('secret' in ref)) return null;
    try {
      return await this.access(ref.secret);
    } catch (error) {
      if (isSchedulerError(error, 'SECRET_NOT_FOUND')) return null;
      throw error;
    }
  }

  /**
   * The value of a secret version; throws SECRET_NOT_FOUND, SECRET_UNAVAILABLE or AUTH_NO_CREDENTIALS
   * (CONFIG_INVALID for a name that is not a version name).
   */
  access(name: string): Promise<string> {
    if (!VERSION_NAME.test(name)) {
      return Promise.reject(
        new SchedulerError(
          'CONFIG_INVALID',
          `"${name}" is not a Secret Manager version name: expected projects/PROJECT/secrets/SECRET/versions/VERSION (VERSION a number or latest)`,
          { details: { secret: name } },
        ),
      );
    }
    // Only values are kept: a missing secret may be created, an outage may end, before the next call.
    return this.values.get(name, () => this.fetch(name));
  }

  /** Closes the gRPC channel, if one was opened. */
  async close(): Promise<void> {
    const client = this.client.peek();
    this.client.clear();
    if (client) await client.then((c) => c.close()).catch(() => undefined);
  }

  private async fetch(name: string): Promise<string> {
    const client = await this.client.get();
    const describe = (error: unknown) => `${statusName(grpcCode(error))}: ${scrub(grpcDetails(error))}`;
    const result = await retryResult<string, unknown>(
      async () => {
        try {
          return { ok: true, value: await this.fetchOnce(client, name) };
        } catch (error) {
          if (isSchedulerError(error)) throw error;
          const code = grpcCode(error);
          const why = describe(error);
          if (code === GRPC.NOT_FOUND) {
            throw new SchedulerError(
              'SECRET_NOT_FOUND',
              `secret ${name} does not exist or has no enabled version (${why})`,
              { cause: error, details: { secret: name } },
            );
          }
          if (code === GRPC.PERMISSION_DENIED || code === GRPC.UNAUTHENTICATED) {
            throw new SchedulerError(
              'SECRET_FORBIDDEN',
              `reading secret ${name} was refused (${why}): grant roles/secretmanager.secretAccessor on it to the service account the scheduler runs as`,
              { cause: error, details: { secret: name } },
            );
          }
          return { ok: false, failure: error, retryable: code !== undefined && RETRYABLE.has(code) };
        }
      },
      {
        policy: this.retryPolicy,
        clock: this.clock,
        onRetry: ({ failure, attempt, delayMs }) =>
          this.options.logger?.warn(
            `Secret Manager: ${describe(failure)}; retrying secret ${name} in ${delayMs} ms`,
            { secret: name, attempt: attempt - 1, delayMs },
          ),
      },
    );
    if (result.ok) return result.value;
    const tries = result.attempts === 1 ? '' : ` after ${result.attempts} attempts`;
    throw new SchedulerError(
      'SECRET_UNAVAILABLE',
      `could not read secret ${name} from Secret Manager${tries} (${describe(result.failure)})`,
      { cause: result.failure, details: { secret: name, attempts: result.attempts } },
    );
  }

  private async fetchOnce(client: SecretManagerServiceClient, name: string): Promise<string> {
    const [version] = await client.accessSecretVersion(
      { name },
      { retry: { retryCodes: [] }, timeout: this.attemptTimeoutMs },
    );
    const data = version.payload?.data;
    if (data === null || data === undefined) {
      throw new SchedulerError(
        'SECRET_UNAVAILABLE',
        `Secret Manager answered no payload for secret ${name}`,
        {
          details: { secret: name },
        },
      );
    }
    const value = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    registerSecret(value);
    return value;
  }
}

function grpcCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function grpcDetails(error: unknown): string {
  const details = (error as { details?: unknown } | null)?.details;
  return typeof details === 'string' && details !== '' ? details : errorMessage(error);
}

const STATUS_NAMES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

function statusName(code: number | undefined): string {
  return code === undefined ? 'error' : (STATUS_NAMES[code] ?? `gRPC status ${code}`);
}
