/**
 * Google-style ID tokens for the loopback servers (metadata server, Cloud Tasks): JWTs whose payload
 * google-auth-library can parse (numeric `exp`), signed with nothing since nobody verifies signatures
 * on loopback. `decodeIdToken` is what fake collectors use to check the audience they were called with.
 */
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

export interface IdTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  email?: string;
  iat: number;
  exp: number;
}

export function mintIdToken(
  audience: string,
  options: { email?: string; nowMs?: number; lifetimeSeconds?: number } = {},
): string {
  const iat = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const claims: IdTokenClaims = {
    iss: 'https://accounts.google.com',
    aud: audience,
    sub: '100000000000000000001',
    ...(options.email ? { email: options.email } : {}),
    iat,
    exp: iat + (options.lifetimeSeconds ?? 3600),
  };
  return `${b64({ alg: 'RS256', typ: 'JWT', kid: 'loopback' })}.${b64(claims)}.bG9vcGJhY2s`;
}

export function decodeIdToken(authorization: string | undefined): IdTokenClaims | null {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  const payload = token?.split('.')[1];
  if (!payload) return null;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as IdTokenClaims;
  } catch {
    return null;
  }
}
