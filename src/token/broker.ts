import { randomBytes } from 'node:crypto';
import { errorMessage, isSchedulerError, SchedulerError } from '../errors';
import type { HeldLease, LeaseManager, LeaseRecord } from '../lease/lease';
import { isRetryableRunError, PermanentError } from '../runtime/errors';
import { isPreconditionFailed, putJson, type ObjectStore } from '../store/types';
import { isoTime, timeoutSignal, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { registerSecret, scrub } from '../util/secrets';
import {
  checkAccount,
  emptyRecord,
  fingerprint,
  loginLeaseName,
  readToken,
  tokenKey,
  usableToken,
  type StoredToken,
  type TokenRecord,
} from './record';
import { LEASE_LOOK_EVERY, pollDelayMs } from './poll';
import { SingleFlight } from '../util/single-flight';
import type { LoginFn, LoginResult, TokenBroker } from './types';

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

export interface TokenBrokerDeps {
  /** The state store; tokens live under `tokens/`, login leases under `leases/`. */
  store: ObjectStore;
  leases: LeaseManager;
  clock: Clock;
  logger: Logger;
  settings?: Partial<TokenBrokerSettings>;
  /** For the waiters' poll jitter. */
  random?: () => number;
}

/**
 * One token per account, shared through the store by every job and process of the account; one login
 * at a time under the account's login lease; compare-and-swap on the token object's generation for
 * every write, so a late writer never replaces a newer token and a stale 401 never clears a fresh one.
 */
export function createTokenBroker(deps: TokenBrokerDeps): TokenBroker {
  const settings: TokenBrokerSettings = { ...DEFAULT_TOKEN_SETTINGS, ...deps.settings };
  const { store, leases, clock } = deps;
  const random = deps.random ?? Math.random;
  const log = deps.logger.child({ component: 'token-broker' });
  const flights = new SingleFlight<string>();
  const holder = () => `token-broker/pid-${process.pid}/${randomBytes(4).toString('hex')}`;

  const obtain = async (account: string, login: LoginFn, signal: AbortSignal): Promise<string> => {
    const waitStarted = clock.now();
    // The login we wait on, as last seen; null until someone else is found holding the lease.
    let awaited: LeaseRecord | null = null;
    for (let poll = 0; ; poll++) {
      signal.throwIfAborted();
      const stored = await readToken(store, account);
      const token = usableToken(stored?.record ?? null, clock.now(), settings.expiryMarginMs);
      if (token) {
        registerSecret(token);
        return token;
      }
      if (awaited !== null) throwIfLoginFailedSince(account, stored, waitStarted);
      // The token is read on every poll; the lease (a second read) at the start, every few polls (its
      // holder may have given up without a token) and whenever its last known expiry has passed.
      if (awaited === null || poll % LEASE_LOOK_EVERY === 0 || clock.now() >= leases.takeoverAt(awaited)) {
        const lease = await leases.tryAcquire(loginLeaseName(account), holder(), settings.loginLeaseTtlMs);
        if (lease.acquired) return loginUnderLease(account, login, lease.lease, signal);
        if (awaited?.holder !== lease.holder.holder) {
          log.debug(`waiting for the login to account ${account} held by ${lease.holder.holder}`, {
            account,
          });
        }
        awaited = lease.holder;
      }
      const now = clock.now();
      const left = waitStarted + settings.maxWaitMs - now;
      if (left <= 0) {
        throw new SchedulerError(
          'LEASE_BUSY',
          `gave up after ${Math.round(settings.maxWaitMs / 1000)} s waiting for the login to account ${account}, held by ${awaited.holder}; if that process died, its lease expires at ${isoTime(awaited.expiresAt)}`,
          { details: { account, holder: awaited.holder } },
        );
      }
      const delay = pollDelayMs(
        {
          poll,
          nowMs: now,
          leaseAcquiredMs: Date.parse(awaited.acquiredAt),
          lastLoginMs: stored?.record.login_ms ?? null,
          random,
        },
        settings,
      );
      // Never sleep past the time the holder's lease may be taken over: a dead holder's lease is taken
      // over as soon as it lapses (with the margin for clock skew).
      await clock.sleep(Math.min(delay, Math.max(0, leases.takeoverAt(awaited) - now) + 1, left), signal);
    }
  };

  const loginUnderLease = async (
    account: string,
    login: LoginFn,
    lease: HeldLease,
    signal: AbortSignal,
  ): Promise<string> => {
    try {
      // Another process may have logged in between our read and our taking the lease.
      const stored = await readToken(store, account);
      const token = usableToken(stored?.record ?? null, clock.now(), settings.expiryMarginMs);
      if (token) {
        registerSecret(token);
        return token;
      }
      signal.throwIfAborted();
      const started = clock.now();
      const timeout = timeoutSignal(
        clock,
        settings.loginTimeoutMs,
        new SchedulerError(
          'UPSTREAM_HTTP',
          `login to account ${account} did not answer within ${settings.loginTimeoutMs / 1000} s`,
        ),
      );
      let result: LoginResult;
      try {
        result = await login(AbortSignal.any([signal, lease.lost, timeout.signal]));
      } catch (error) {
        const failure = timeout.signal.aborted ? timeout.signal.reason : error;
        // A caller giving up or a lost lease says nothing about the credentials: record only real failures.
        if (!signal.aborted && !lease.lost.aborted) await recordLoginError(account, stored, failure);
        throw failure;
      } finally {
        timeout.clear();
      }
      registerSecret(result.token);
      return await publish(account, stored, result, lease.holder, clock.now() - started);
    } finally {
      await lease.release();
    }
  };

  const publish = async (
    account: string,
    stored: StoredToken | null,
    result: LoginResult,
    obtainedBy: string,
    loginMs: number,
  ): Promise<string> => {
    const now = clock.now();
    let expiresAt = result.expiresAt ?? now + settings.defaultLifetimeMs;
    if (expiresAt <= now) {
      log.warn(
        `login to account ${account} answered a token that has already expired; assuming the default lifetime`,
        {
          account,
        },
      );
      expiresAt = now + settings.defaultLifetimeMs;
    }
    const previous = stored?.record ?? emptyRecord(account);
    const record: TokenRecord = {
      ...previous,
      account,
      token: result.token,
      obtained_at: isoTime(now),
      expires_at: isoTime(expiresAt),
      obtained_by: obtainedBy,
      login_ms: loginMs,
      logins: previous.logins + 1,
      invalidated_at: null,
      last_login_error: null,
    };
    try {
      await putJson(store, tokenKey(account), record, { ifGenerationMatch: stored?.generation ?? 0 });
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
      // Only when our lease lapsed during the login and another process logged in and stored its token
      // after us: it logged in last, so its token is the live one.
      const current = await readToken(store, account);
      const theirs = usableToken(current?.record ?? null, clock.now(), settings.expiryMarginMs);
      log.warn(
        `account ${account}: another process stored a token while we logged in; using the stored one`,
        {
          account,
        },
      );
      if (theirs) {
        registerSecret(theirs);
        return theirs;
      }
      return result.token;
    }
    log.info(`logged in to account ${account}`, {
      account,
      token_id: fingerprint(result.token),
      expires_at: record.expires_at,
      login_ms: loginMs,
    });
    return result.token;
  };

  const recordLoginError = async (account: string, stored: StoredToken | null, error: unknown) => {
    const record: TokenRecord = {
      ...(stored?.record ?? emptyRecord(account)),
      last_login_error: {
        at: isoTime(clock.now()),
        code: isSchedulerError(error) ? error.code : null,
        message: scrub(errorMessage(error)),
        retryable: isRetryableRunError(error),
      },
    };
    try {
      await putJson(store, tokenKey(account), record, { ifGenerationMatch: stored?.generation ?? 0 });
    } catch (writeError) {
      log.warn(`could not record the failed login to account ${account}: ${errorMessage(writeError)}`, {
        account,
      });
    }
  };

  return {
    getToken(account, login, signal) {
      try {
        checkAccount(account);
      } catch (error) {
        return Promise.reject(error);
      }
      return flights.run(account, (shared) => obtain(account, login, shared), signal);
    },

    async invalidate(account, token) {
      checkAccount(account);
      for (;;) {
        const stored = await readToken(store, account);
        if (!stored || stored.record.token !== token) {
          log.debug(`account ${account}: the failed token was already replaced; keeping the stored one`, {
            account,
            token_id: fingerprint(token),
          });
          return false;
        }
        try {
          const cleared: TokenRecord = {
            ...stored.record,
            token: null,
            invalidated_at: isoTime(clock.now()),
          };
          await putJson(store, tokenKey(account), cleared, { ifGenerationMatch: stored.generation });
          log.info(`account ${account}: token invalidated after the upstream refused it`, {
            account,
            token_id: fingerprint(token),
          });
          return true;
        } catch (error) {
          // Someone wrote the object since we read it: look again, it may no longer be the failed token.
          if (!isPreconditionFailed(error)) throw error;
        }
      }
    },
  };
}

/** A waiter whose awaited login failed fails with that error rather than trying the same login again. */
function throwIfLoginFailedSince(account: string, stored: StoredToken | null, sinceMs: number): void {
  const failure = stored?.record.last_login_error;
  if (!failure || Date.parse(failure.at) < sinceMs) return;
  const message = `the login to account ${account} failed in another job at ${failure.at}: ${failure.message}`;
  const details = { account, login_error_code: failure.code };
  if (!failure.retryable) throw new PermanentError(message, { details }, 'TOKEN_LOGIN_FAILED');
  throw new SchedulerError('TOKEN_LOGIN_FAILED', message, { details });
}
