import { registerSecret } from '../util/secrets';
import type { CredentialRef, SecretSource } from './types';

/** Credentials from environment variables only; Secret Manager refs resolve through `fallback`. */
export function envSecretSource(
  env: Readonly<Record<string, string | undefined>>,
  fallback?: SecretSource,
): SecretSource {
  return {
    async get(ref: CredentialRef) {
      if ('env' in ref) {
        const value = env[ref.env];
        if (!value) return null;
        registerSecret(value);
        return value;
      }
      return fallback ? fallback.get(ref) : null;
    },
  };
}
