import type { AuthConfig } from '../config/types';
import { SchedulerError } from '../errors';
import type { SecretSource } from '../secrets/types';
import type { Clock } from '../util/clock';
import { registerSecret } from '../util/secrets';
import { Memo } from '../util/single-flight';
import { noAuth, type HeaderProvider } from './types';

export interface AuthDeps {
  env: Readonly<Record<string, string | undefined>>;
  /** Where `bearer` tokens named by `scheduler.auth.secret` come from (Secret Manager in production). */
  secrets: SecretSource;
  /** Time for ID-token expiry; the system clock when left out. */
  clock?: Clock;
}

/** The header provider for the configured auth type. Google's libraries are loaded only when used. */
export function createHeaderProvider(auth: AuthConfig, deps: AuthDeps): HeaderProvider {
  switch (auth.type) {
    case 'none':
      return noAuth;
    case 'bearer':
      return auth.secret
        ? bearerFromSecret(auth.secret, deps.secrets)
        : bearerFromEnv(auth.tokenEnv, deps.env);
    case 'google-id-token': {
      const { GoogleIdTokenProvider } = require('./google-id-token') as typeof import('./google-id-token');
      return new GoogleIdTokenProvider(deps.clock ? { clock: deps.clock } : {});
    }
  }
}

/** A static token from an environment variable. */
function bearerFromEnv(variable: string, env: AuthDeps['env']): HeaderProvider {
  return {
    async headersFor() {
      const token = env[variable];
      if (!token) {
        throw new SchedulerError(
          'AUTH_TOKEN_MISSING',
          `auth type bearer needs a token in the environment variable ${variable}, which is not set`,
        );
      }
      registerSecret(token);
      return { authorization: `Bearer ${token}` };
    },
  };
}

/**
 * A static token from a Secret Manager version, fetched on first use and kept for the instance's life
 * (a rotated secret is picked up by the next cold start). A failed fetch is not kept: the next call
 * tries again.
 */
function bearerFromSecret(secret: string, secrets: SecretSource): HeaderProvider {
  const token = new Memo<string>(async () => {
    const value = await secrets.get({ secret });
    if (!value) {
      throw new SchedulerError(
        'AUTH_TOKEN_MISSING',
        `auth type bearer needs a token in the Secret Manager secret ${secret}, which does not exist or has no enabled version`,
        { details: { secret } },
      );
    }
    registerSecret(value);
    return value;
  });
  return {
    async headersFor() {
      return { authorization: `Bearer ${await token.get()}` };
    },
  };
}
