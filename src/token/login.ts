import { errorMessage, isSchedulerError, SchedulerError } from '../errors';
import type { HeldLease } from '../lease/lease';
import { isRetryableRunError } from '../runtime/errors';
import { isPreconditionFailed, putJson, type ObjectStore } from '../store/types';
import { isoTime, timeoutSignal, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { registerSecret, scrub } from '../util/secrets';
import {
  emptyRecord,
  fingerprint,
  readToken,
  tokenKey,
  usableToken,
  type StoredToken,
  type TokenRecord,
} from './record';
import type { TokenBrokerSettings } from './settings';
import type { LoginFn, LoginResult } from './types';

/** What the broker's writes of an account's token object need. */
export interface LoginContext {
  store: ObjectStore;
  clock: Clock;
  settings: TokenBrokerSettings;
  log: Logger;
}

/**
 * The login itself, once this process holds the account's login lease: the stored token if another
 * process logged in meanwhile, else the login, bounded by `loginTimeoutMs`, and its token published.
 */
export async function loginUnderLease(
  ctx: LoginContext,
  account: string,
  login: LoginFn,
  lease: HeldLease,
  signal: AbortSignal,
): Promise<string> {
  const { store, clock, settings } = ctx;
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
      if (!signal.aborted && !lease.lost.aborted) await recordLoginError(ctx, account, stored, failure);
      throw failure;
    } finally {
      timeout.clear();
    }
    registerSecret(result.token);
    return await publish(ctx, account, stored, result, lease.holder, clock.now() - started);
  } finally {
    await lease.release();
  }
}

async function publish(
  ctx: LoginContext,
  account: string,
  stored: StoredToken | null,
  result: LoginResult,
  obtainedBy: string,
  loginMs: number,
): Promise<string> {
  const { store, clock, settings, log } = ctx;
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
    log.warn(`account ${account}: another process stored a token while we logged in; using the stored one`, {
      account,
    });
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
}

async function recordLoginError(
  ctx: LoginContext,
  account: string,
  stored: StoredToken | null,
  error: unknown,
): Promise<void> {
  const { store, clock, log } = ctx;
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
}

/**
 * Clears a token the upstream refused, unless it was already replaced (compare-and-swap: a stale 401
 * never clears a fresh token). True when this call cleared it.
 */
export async function invalidateToken(ctx: LoginContext, account: string, token: string): Promise<boolean> {
  const { store, clock, log } = ctx;
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
}
