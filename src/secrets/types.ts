/**
 * Where a credential comes from: an environment variable, or a Secret Manager version
 * (`projects/P/secrets/S/versions/V`). Config names them; values never appear in config or reports.
 */
export type CredentialRef = { env: string } | { secret: string };

export interface SecretSource {
  /** The value, or null when it is not set / does not exist (the caller decides if that is a skip). */
  get(ref: CredentialRef): Promise<string | null>;
}

export function describeRef(ref: CredentialRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `secret ${ref.secret}`;
}
