import type { Complain } from './errors';
import type { RawConfig } from './schema';
import { DEFAULTS, type AuthConfig, type IncomingAuthConfig } from './types';

type RawIncomingAuth = NonNullable<NonNullable<RawConfig['scheduler']>['incoming_auth']>;

const PATH = 'scheduler.incoming_auth';

/** The keys that mean something for each type; any other key set is a mistake worth a message. */
const KEYS_BY_TYPE: Record<IncomingAuthConfig['type'], readonly (keyof RawIncomingAuth)[]> = {
  'google-id-token': ['audiences', 'allowed_emails', 'certs_url'],
  bearer: ['token_env', 'secret'],
  none: ['allow_unauthenticated'],
};

/**
 * Keys a type accepts without using them. `none` tolerates google-id-token's so that one file serves a
 * local run and a deployment: `type: ${SCHEDULER_INCOMING_AUTH:-none}` with the audiences and e-mails
 * beside it is none on a laptop and google-id-token where `scheduler deploy` sets the variable
 * (config/config.yaml). Nothing is lost: none checks nobody, and a deployed function refuses to start
 * with it. Bearer's keys under none, and every other mix, are still mistakes.
 */
const TOLERATED_BY_TYPE: Record<IncomingAuthConfig['type'], readonly (keyof RawIncomingAuth)[]> = {
  'google-id-token': [],
  bearer: [],
  none: KEYS_BY_TYPE['google-id-token'],
};

/**
 * `scheduler.incoming_auth`: who may call the function. Left out, it is `bearer` with the token the
 * scheduler itself sends when `scheduler.auth` is bearer (the collector routes it serves demanded that
 * token already), else `none`, which a deployed function refuses to start with (auth/incoming/create.ts).
 */
export function normaliseIncomingAuth(
  raw: RawIncomingAuth | undefined,
  outgoing: AuthConfig,
  complain: Complain,
): IncomingAuthConfig {
  if (!raw) {
    return outgoing.type === 'bearer'
      ? {
          type: 'bearer',
          tokenEnv: outgoing.tokenEnv,
          ...(outgoing.secret ? { secret: outgoing.secret } : {}),
        }
      : { type: 'none', allowUnauthenticated: false };
  }
  const allowed = [...KEYS_BY_TYPE[raw.type], ...TOLERATED_BY_TYPE[raw.type]];
  for (const key of Object.keys(raw) as (keyof RawIncomingAuth)[]) {
    if (key !== 'type' && !allowed.includes(key)) {
      const owner = (Object.keys(KEYS_BY_TYPE) as IncomingAuthConfig['type'][]).find((t) =>
        KEYS_BY_TYPE[t].includes(key),
      );
      complain(`${PATH}.${key}`, `only applies to type: ${owner} (type is ${raw.type})`);
    }
  }
  switch (raw.type) {
    case 'google-id-token': {
      if (!raw.audiences?.length) {
        complain(
          `${PATH}.audiences`,
          'is required for type google-id-token: the function URL(s) its callers mint tokens for, e.g. [https://europe-west1-my-project.cloudfunctions.net/scheduler]',
        );
      }
      if (!raw.allowed_emails?.length) {
        complain(
          `${PATH}.allowed_emails`,
          'is required for type google-id-token: anyone with a Google account can mint an ID token for any audience, so list the service accounts (Cloud Scheduler, Cloud Tasks) and operators that may call',
        );
      }
      return {
        type: 'google-id-token',
        audiences: raw.audiences ?? [],
        allowedEmails: (raw.allowed_emails ?? []).map((e) => e.toLowerCase()),
        certsUrl: raw.certs_url ?? DEFAULTS.googleCertsUrl,
      };
    }
    case 'bearer':
      return {
        type: 'bearer',
        tokenEnv: raw.token_env ?? (outgoing.type === 'bearer' ? outgoing.tokenEnv : DEFAULTS.tokenEnv),
        ...(raw.secret ? { secret: raw.secret } : {}),
      };
    case 'none':
      return { type: 'none', allowUnauthenticated: raw.allow_unauthenticated ?? false };
  }
}
