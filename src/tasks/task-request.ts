import type { protos } from '@google-cloud/tasks';
import type { HeaderProvider } from '../auth/types';
import type { Config } from '../config/types';
import type { DispatchTarget } from '../dispatch/types';
import { audienceOf } from '../util/url';

/**
 * Set on every task: which execution created it. GetTask shows headers (not the body) without the
 * fullView permission, so a refused duplicate can name the execution that owns the run.
 */
export const EXECUTION_ID_HEADER = 'X-Scheduler-Execution-Id';

type Task = protos.google.cloud.tasks.v2.ITask;

/**
 * The Cloud Task of one dispatch target: a POST of the dispatch payload (the same body on every
 * delivery) to the collector's URL, with an OIDC token for the URL without its query string (Cloud
 * Functions checks the audience; a query may carry a key), cut off after `deadlineSeconds`.
 */
export async function buildTask(
  target: DispatchTarget,
  name: string,
  deadlineSeconds: number,
  deps: { config: Config; auth: HeaderProvider },
): Promise<Task> {
  const { config } = deps;
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    [EXECUTION_ID_HEADER]: target.payload.executionId,
  };
  const httpRequest: protos.google.cloud.tasks.v2.IHttpRequest = {
    url: target.url,
    httpMethod: 'POST',
    headers,
    body: Buffer.from(JSON.stringify(target.payload)),
  };
  if (config.scheduler.auth.type === 'bearer') {
    // Collector routes then check a bearer token, which an OIDC token would replace: it travels in
    // the task (visible to whoever may view tasks in full).
    Object.assign(headers, await deps.auth.headersFor(target.url));
  } else {
    httpRequest.oidcToken = {
      serviceAccountEmail: config.scheduler.tasks.serviceAccountEmail!,
      audience: audienceOf(target.url),
    };
  }
  return { name, httpRequest, dispatchDeadline: { seconds: deadlineSeconds } };
}

/** The execution that created a task (from its header), or null. */
export function creatorOf(task: Task): string | null {
  const headers = task.httpRequest?.headers ?? {};
  const key = Object.keys(headers).find((k) => k.toLowerCase() === EXECUTION_ID_HEADER.toLowerCase());
  return key ? (headers[key] ?? null) : null;
}

/** A URL on this machine, which Cloud Tasks itself could never reach. */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  } catch {
    return false;
  }
}
