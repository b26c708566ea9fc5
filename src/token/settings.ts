/** How the token broker times logins, expiries and waits (see DEFAULT_TOKEN_SETTINGS). */
export interface TokenBrokerSettings {
  /** A token is treated as expired this long before its expiry (at most half its lifetime). */
  expiryMarginMs: number;
  /** The lifetime assumed when a login does not say when its token expires. */
  defaultLifetimeMs: number;
  /** The login lease's lifetime without renewal: how long others wait for a holder that died. */
  loginLeaseTtlMs: number;
  /** A login that has not answered after this long is abandoned (and the lease released). */
  loginTimeoutMs: number;
  /** How long a caller waits for another process's login before giving up (LEASE_BUSY). */
  maxWaitMs: number;
  /** Waiters re-read the token after this, then after each wait times `pollFactor`, up to `pollMaxMs`. */
  pollInitialMs: number;
  pollFactor: number;
  pollMaxMs: number;
}

/**
 * Defaults. The poll grows by 1.3 per look, so a waiter notices a finished login at most ~30 % of the
 * elapsed wait after it lands (the benchmark's goal is all jobs holding the token within 1.5 logins).
 */
export const DEFAULT_TOKEN_SETTINGS: Readonly<TokenBrokerSettings> = Object.freeze({
  expiryMarginMs: 5 * 60_000,
  defaultLifetimeMs: 60 * 60_000,
  loginLeaseTtlMs: 30_000,
  loginTimeoutMs: 60_000,
  maxWaitMs: 120_000,
  pollInitialMs: 20,
  pollFactor: 1.3,
  pollMaxMs: 1_000,
});
