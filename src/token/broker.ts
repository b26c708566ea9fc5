import { randomBytes } from 'node:crypto';
import { SchedulerError } from '../errors';
import type { LeaseManager, LeaseRecord } from '../lease/lease';
import { PermanentError } from '../runtime/errors';
import type { ObjectStore } from '../store/types';
import { isoTime, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { registerSecret } from '../util/secrets';
import { SingleFlight } from '../util/single-flight';
import { invalidateToken, loginUnderLease, type LoginContext } from './login';
import { LEASE_LOOK_EVERY, pollDelayMs } from './poll';
import { checkAccount, loginLeaseName, readToken, usableToken, type StoredToken } from './record';
import { DEFAULT_TOKEN_SETTINGS, type TokenBrokerSettings } from './settings';
import type { LoginFn, TokenBroker } from './types';

export { DEFAULT_TOKEN_SETTINGS, type TokenBrokerSettings } from './settings';

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
  const ctx: LoginContext = { store, clock, settings, log };

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
        if (lease.acquired) return loginUnderLease(ctx, account, login, lease.lease, signal);
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
      return invalidateToken(ctx, account, token);
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
