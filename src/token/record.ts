import { createHash } from 'node:crypto';
import { SchedulerError } from '../errors';
import { readJson, type ObjectStore } from '../store/types';

/**
 * The token object of one account, at `<state>/tokens/<account>.json`: the one token every job of the
 * account uses. It holds the token (the only place outside memory it is kept) but never the password.
 * Every write is conditional on the generation read, so two processes can never overwrite each other.
 */
export interface TokenRecord {
  account: string;
  /** Null once invalidated (after an upstream 401), until the next login. */
  token: string | null;
  obtained_at: string | null;
  expires_at: string | null;
  /** The login lease holder that obtained it (`token-broker/pid-<pid>/<random>`). */
  obtained_by: string | null;
  /** How long that login took, ms. */
  login_ms: number | null;
  /** Logins recorded for this account since the object was created. */
  logins: number;
  invalidated_at: string | null;
  /**
   * The last failed login, so that jobs waiting on that login fail with its error instead of each
   * trying the same (perhaps wrong) password in turn.
   */
  last_login_error: LoginErrorRecord | null;
}

export interface LoginErrorRecord {
  at: string;
  code: string | null;
  /** Scrubbed of every registered secret. */
  message: string;
  retryable: boolean;
}

export interface StoredToken {
  record: TokenRecord;
  generation: string;
}

const ACCOUNT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Accounts name objects in the store, so they are restricted to safe key characters. */
export function checkAccount(account: string): string {
  if (!ACCOUNT.test(account) || account.includes('..')) {
    throw new SchedulerError(
      'CONFIG_INVALID',
      `token account "${account}" is not a valid account key: use letters, digits, ".", "_" and "-" (at most 100, starting with a letter or digit)`,
      { details: { account } },
    );
  }
  return account;
}

export function tokenKey(account: string): string {
  return `tokens/${account}.json`;
}

/** The lease held while logging in to `account`. */
export function loginLeaseName(account: string): string {
  return `login-${account}`;
}

export function emptyRecord(account: string): TokenRecord {
  return {
    account,
    token: null,
    obtained_at: null,
    expires_at: null,
    obtained_by: null,
    login_ms: null,
    logins: 0,
    invalidated_at: null,
    last_login_error: null,
  };
}

export async function readToken(store: ObjectStore, account: string): Promise<StoredToken | null> {
  const found = await readJson<Partial<TokenRecord>>(store, tokenKey(account));
  if (!found) return null;
  // Fields missing from an older or hand-edited object read as absent rather than failing the job.
  return { record: { ...emptyRecord(account), ...found.value }, generation: found.generation };
}

/**
 * The token if it can still be used at `nowMs`: it must not expire within the margin. The margin is at
 * most half the token's lifetime, so a short-lived token is not seen as expired the moment it arrives
 * (which would make every job log in, the very thing the broker prevents).
 */
export function usableToken(record: TokenRecord | null, nowMs: number, marginMs: number): string | null {
  if (!record?.token || !record.expires_at) return null;
  const expires = Date.parse(record.expires_at);
  if (Number.isNaN(expires)) return null;
  const obtained = record.obtained_at ? Date.parse(record.obtained_at) : Number.NaN;
  const lifetime = Number.isNaN(obtained) ? marginMs * 2 : expires - obtained;
  const margin = Math.min(marginMs, Math.max(0, lifetime / 2));
  return nowMs < expires - margin ? record.token : null;
}

/** A short, non-reversible name for a token, for logs: never the token itself. */
export function fingerprint(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}
