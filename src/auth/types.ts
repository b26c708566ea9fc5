import { isSchedulerError } from '../errors';

/** Adds authentication headers to a request for a given URL (its audience, for ID tokens). */
export interface HeaderProvider {
  headersFor(url: string): Promise<Record<string, string>>;
}

export const noAuth: HeaderProvider = { headersFor: async () => ({}) };

/**
 * An auth failure worth another attempt, like a network error: the metadata server could not mint an
 * ID token just now (5xx, timeout), or Secret Manager could not be reached. Missing credentials, an
 * unusable token or a missing secret fail the same way again.
 */
export function isRetryableAuthError(error: unknown): boolean {
  if (isSchedulerError(error, 'AUTH_ID_TOKEN_UNAVAILABLE')) return error.details['retryable'] !== false;
  return isSchedulerError(error, 'SECRET_UNAVAILABLE');
}
