import type { Config } from '../../config/types';
import { SchedulerError } from '../../errors';
import type { SecretSource } from '../../secrets/types';
import type { Logger } from '../../util/log';
import { bearerCheck } from './bearer';
import { GoogleIdTokenCheck } from './google-id-token';
import type { CallerCheck } from './types';

export interface CallerCheckDeps {
  env: Readonly<Record<string, string | undefined>>;
  secrets: SecretSource;
  logger: Logger;
  /** For Google's certificates. */
  fetch?: typeof fetch;
}

const allowEveryone: CallerCheck = {
  type: 'none',
  check: async () => ({ allowed: true, caller: 'anyone (incoming_auth none)' }),
};

/**
 * The check for `scheduler.incoming_auth`. `none` is the local default; on Cloud Run / Cloud Functions
 * (K_SERVICE set) it is refused unless the config says `allow_unauthenticated: true`, and then every
 * start logs a warning. Nothing is read here: tokens and certificates are loaded on the first request.
 */
export function createCallerCheck(config: Config, deps: CallerCheckDeps): CallerCheck {
  const auth = config.scheduler.incomingAuth;
  switch (auth.type) {
    case 'google-id-token':
      return new GoogleIdTokenCheck(deps.fetch ? { ...auth, fetch: deps.fetch } : auth);
    case 'bearer': {
      const ref = auth.secret ? { secret: auth.secret } : { env: auth.tokenEnv };
      const describe = auth.secret ? `secret ${auth.secret}` : `environment variable ${auth.tokenEnv}`;
      return bearerCheck(() => deps.secrets.get(ref), describe);
    }
    case 'none': {
      const deployed = deps.env['K_SERVICE'];
      if (deployed && !auth.allowUnauthenticated) {
        throw new SchedulerError(
          'CONFIG_INVALID',
          `${config.source} scheduler.incoming_auth: this function runs on Google Cloud (K_SERVICE=${deployed}) with no caller check, so anyone who can reach it could run every collector; set scheduler.incoming_auth.type to google-id-token (or bearer), or say allow_unauthenticated: true to accept that`,
          { details: { key: 'scheduler.incoming_auth' } },
        );
      }
      if (deployed) {
        deps.logger.warn(
          `scheduler.incoming_auth is none with allow_unauthenticated: true: every route of ${deployed} runs for any caller that IAM lets through`,
          { service: deployed },
        );
      }
      return allowEveryone;
    }
  }
}
