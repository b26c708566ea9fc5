import { errorMessage } from '../errors';
import { scrub } from '../util/secrets';

/**
 * How Cloud Tasks errors arrive: over gRPC with a numeric gRPC code, over REST (google-gax 5 does not map
 * HTTP statuses back to gRPC codes) with the HTTP status in `code`. Both are accepted everywhere.
 */
export const RPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const HTTP_TO_RPC: Record<number, number> = {
  400: RPC.INVALID_ARGUMENT,
  401: RPC.UNAUTHENTICATED,
  403: RPC.PERMISSION_DENIED,
  404: RPC.NOT_FOUND,
  409: RPC.ALREADY_EXISTS,
  429: RPC.RESOURCE_EXHAUSTED,
  503: RPC.UNAVAILABLE,
  504: RPC.DEADLINE_EXCEEDED,
};

const NAMES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

/** The gRPC code of an error from either transport (an HTTP status mapped), or null. */
export function rpcCode(error: unknown): number | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'number') return null;
  if (code >= 100) return HTTP_TO_RPC[code] ?? (code >= 500 ? 13 : RPC.FAILED_PRECONDITION);
  return code;
}

/** ALREADY_EXISTS: 6 over gRPC, 409 over REST. */
export function isAlreadyExists(error: unknown): boolean {
  return rpcCode(error) === RPC.ALREADY_EXISTS;
}

/** Worth another try: the call may not have reached Cloud Tasks, or its answer was lost. */
export function isRetryableRpc(error: unknown): boolean {
  const code = rpcCode(error);
  return code === RPC.UNAVAILABLE || code === RPC.DEADLINE_EXCEEDED;
}

/** `NOT_FOUND: Queue does not exist...`, secrets scrubbed. */
export function describeRpcError(error: unknown): string {
  const code = rpcCode(error);
  const details = (error as { details?: unknown } | null)?.details;
  const text = typeof details === 'string' && details !== '' ? details : errorMessage(error);
  const name = code === null ? 'error' : (NAMES[code] ?? `gRPC status ${code}`);
  return scrub(text.startsWith(`${code} ${name}`) ? text : `${name}: ${text}`);
}

/** What to do about a refused CreateTask, for the report. */
export function hintFor(error: unknown, queue: string): string {
  switch (rpcCode(error)) {
    case RPC.NOT_FOUND:
      return ` (queue ${queue} missing? create it with \`scheduler queues --apply\`)`;
    case RPC.PERMISSION_DENIED:
    case RPC.UNAUTHENTICATED:
      return ' (the scheduler needs roles/cloudtasks.enqueuer, and roles/iam.serviceAccountUser on scheduler.tasks.service_account_email)';
    default:
      return '';
  }
}
