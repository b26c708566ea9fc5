import type { AuthConfig } from '../config/types';
import { SchedulerError } from '../errors';
import { registerSecret } from '../util/secrets';
import { noAuth, type HeaderProvider } from './types';

export interface AuthDeps {
  env: Readonly<Record<string, string | undefined>>;
}

/** The header provider for the configured auth type. Google's library is loaded only when used. */
export function createHeaderProvider(auth: AuthConfig, deps: AuthDeps): HeaderProvider {
  switch (auth.type) {
    case 'none':
      return noAuth;
    case 'bearer':
      return bearerFromEnv(auth.tokenEnv, deps.env);
    case 'google-id-token': {
      const { GoogleIdTokenProvider } = require('./google-id-token') as typeof import('./google-id-token');
      return new GoogleIdTokenProvider();
    }
  }
}

/** A static token from an environment variable, read once. */
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
