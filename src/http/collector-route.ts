import { timingSafeEqual } from 'node:crypto';
import { DEFAULTS } from '../config/types';
import { RequestError } from '../errors';
import { parsePayload } from '../runtime/payload';
import { runCollector } from '../runtime/run-collector';
import { collectorRuntime, type Services } from '../services';
import { errorResponse } from './errors';
import { header, type AppRequest, type AppResponse } from './types';

/** `POST /collectors/NAME`: runs one collector for one dispatch payload and answers its run record. */
export async function collectorRoute(
  services: Services,
  name: string,
  request: AppRequest,
  trusted: boolean,
): Promise<AppResponse> {
  const denied = trusted ? null : checkBearer(services, request);
  if (denied) return denied;
  const collector = services.registry.get(name);
  if (!collector) {
    return {
      status: 404,
      body: {
        error: {
          code: 'COLLECTOR_UNKNOWN',
          message: `no collector named "${name}" is registered here (registered: ${services.registry.names().join(', ')})`,
        },
      },
    };
  }
  let input: unknown;
  try {
    input = JSON.parse(request.body?.toString('utf8') || 'null');
  } catch {
    return errorResponse(
      new RequestError(
        'request body is not JSON; expected the dispatch payload {executionId, collector, scheduledTime, attempt, options}',
      ),
      services.logger,
    );
  }
  let payload;
  try {
    payload = parsePayload(input, name);
  } catch (error) {
    return errorResponse(error, services.logger);
  }
  const configured = services.config.collectors.find((c) => c.name === name);
  const timeoutSeconds = configured?.timeoutSeconds ?? DEFAULTS.collectorTimeoutSeconds;
  const { record, httpStatus } = await runCollector(
    collector,
    payload,
    timeoutSeconds,
    collectorRuntime(services),
  );
  return { status: httpStatus, body: { run: record } };
}

/**
 * With `auth.type: bearer`, collector routes (except on the embedded loopback server) demand the same token the scheduler sends. (With
 * google-id-token, Cloud Functions' IAM check verifies the token before the request reaches us.)
 */
function checkBearer(services: Services, request: AppRequest): AppResponse | null {
  const auth = services.config.scheduler.auth;
  if (auth.type !== 'bearer') return null;
  const expected = services.env[auth.tokenEnv];
  const given = /^Bearer (.+)$/i.exec(header(request, 'authorization') ?? '')?.[1] ?? '';
  if (
    expected &&
    given.length === expected.length &&
    timingSafeEqual(Buffer.from(given), Buffer.from(expected))
  )
    return null;
  return {
    status: 401,
    body: { error: { code: 'AUTH_TOKEN_MISSING', message: 'missing or wrong bearer token' } },
    headers: { 'www-authenticate': 'Bearer' },
  };
}
