/**
 * One shared token per account: every job of an account gets the same token from the store, and only
 * one of them logs in at a time, so no job invalidates another's token (the XMP outage).
 */
export interface TokenBroker {
  /**
   * A valid token for `account`: the stored one unless it expires within the margin; otherwise `login`
   * is called (by one caller at a time across processes) and its result stored for everyone.
   */
  getToken(account: string, login: LoginFn, signal?: AbortSignal): Promise<string>;
  /**
   * After an upstream 401 with `token`: clears the stored token only if it is still that one, so a
   * stale 401 never throws away a fresh token. Resolves true if it cleared it.
   */
  invalidate(account: string, token: string): Promise<boolean>;
}

export interface LoginResult {
  token: string;
  /** Epoch ms; when unknown, the broker assumes a default lifetime. */
  expiresAt: number | null;
}

/** Logs in once; never logs or returns the password. */
export type LoginFn = (signal?: AbortSignal) => Promise<LoginResult>;
