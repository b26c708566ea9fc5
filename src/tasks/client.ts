import type { CloudTasksClient } from '@google-cloud/tasks';
import { MemoMap } from '../util/single-flight';
import { assertGoogleCredentials } from '../auth/credentials';
import { SchedulerError } from '../errors';

/** The variable Cloud Tasks emulators are reached by (`host:port`, plain gRPC, no credentials). */
export const TASKS_EMULATOR_ENV = 'CLOUD_TASKS_EMULATOR_HOST';

type ClientOptions = NonNullable<ConstructorParameters<typeof CloudTasksClient>[0]>;

/** What the dispatcher calls; the real client fits. */
export type TasksApi = Pick<CloudTasksClient, 'createTask' | 'getTask' | 'close'>;

export interface TasksEndpoint {
  /** `host:port` of an emulator, or null for Cloud Tasks itself. */
  emulator: string | null;
}

export function tasksEndpoint(env: Readonly<Record<string, string | undefined>>): TasksEndpoint {
  const value = env[TASKS_EMULATOR_ENV]?.trim();
  return { emulator: value ? value : null };
}

/**
 * Client options for an emulator. @google-cloud/tasks 6.3 ignores CLOUD_TASKS_EMULATOR_HOST (a default
 * client still goes to cloudtasks.googleapis.com with ADC), so it is mapped here: insecure channel
 * credentials skip the credential lookup, `universeDomain` the metadata-server probe. `grpc` must be
 * the copy google-gax uses (a second copy's credentials object is not recognised).
 */
export function emulatorClientOptions(hostPort: string): ClientOptions {
  const match = /^(?:https?:\/\/)?\[?([^\]/]+?)\]?:(\d{1,5})\/?$/.exec(hostPort.trim());
  if (!match) {
    throw new SchedulerError(
      'CONFIG_INVALID',
      `${TASKS_EMULATOR_ENV}="${hostPort}" is not host:port (e.g. 127.0.0.1:8123)`,
    );
  }
  const { grpc } = require('google-gax') as typeof import('google-gax');
  return {
    apiEndpoint: match[1]!,
    port: Number(match[2]),
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
  };
}

/**
 * One client per endpoint for the process (a warm function instance reuses its channel: building a
 * client costs 150–300 ms). @google-cloud/tasks is loaded on first use only. For Cloud Tasks itself,
 * credentials are checked first: a gax client built without them leaves an unhandled rejection that
 * kills the process even when the call is caught.
 */
// A failure (no credentials, a bad emulator address) is not kept: it may be fixed by the next call.
const clients = new MemoMap<string, TasksApi>();

export function tasksClient(endpoint: TasksEndpoint): Promise<TasksApi> {
  return clients.get(endpoint.emulator ?? 'cloudtasks.googleapis.com', async () => {
    const options = endpoint.emulator ? emulatorClientOptions(endpoint.emulator) : undefined;
    if (!options) await assertGoogleCredentials();
    const { CloudTasksClient } = require('@google-cloud/tasks') as typeof import('@google-cloud/tasks');
    return new CloudTasksClient(options);
  });
}

/** Closes every client's channel (tests, benchmarks, and anything that wants a clean exit). */
export async function closeTasksClients(): Promise<void> {
  const all = clients.peekAll();
  clients.clear();
  await Promise.all(all.map((c) => c.then((client) => client.close()).catch(() => undefined)));
}
