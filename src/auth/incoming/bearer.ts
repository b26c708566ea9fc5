import { createHash, timingSafeEqual } from 'node:crypto';
import { errorMessage } from '../../errors';
import { SingleFlight } from '../../util/single-flight';
import { registerSecret, scrub } from '../../util/secrets';
import { bearerToken, denied, type CallerCheck, type CallerVerdict } from './types';

/**
 * Accepts one shared secret as `Authorization: Bearer <secret>`. The comparison takes the same time
 * whatever the token presented: both sides are hashed first, so neither a differing byte nor a
 * differing length shows in the timing. The expected token is loaded on first use (an environment
 * variable, a Secret Manager version) and kept; a failed load is retried on the next request.
 */
export function bearerCheck(load: () => Promise<string | null>, describe: string): CallerCheck {
  let expected: Buffer | null = null;
  const loads = new SingleFlight<Buffer | null>();
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return {
    type: 'bearer',
    async check(request): Promise<CallerVerdict> {
      let want: Buffer | null;
      try {
        want = expected ??= await loads.run('token', async () => {
          const token = await load();
          if (!token) return null;
          registerSecret(token);
          return digest(token);
        });
      } catch (error) {
        return denied(
          503,
          `the expected bearer token (${describe}) could not be read: ${scrub(errorMessage(error))}`,
        );
      }
      if (!want) return denied(503, `the expected bearer token (${describe}) is not set`);
      const given = bearerToken(request.authorization);
      if (!given) return denied(401, 'no bearer token');
      return timingSafeEqual(digest(given), want)
        ? { allowed: true, caller: 'bearer' }
        : denied(401, 'wrong bearer token');
    },
  };
}
