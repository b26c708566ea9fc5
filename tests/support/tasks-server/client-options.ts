import type { CloudTasksClient } from '@google-cloud/tasks';
// The @grpc/grpc-js copy google-gax (and so the Tasks client) uses.
import { grpc } from 'google-gax';

export type CloudTasksClientOptions = NonNullable<ConstructorParameters<typeof CloudTasksClient>[0]>;

/**
 * Options for `new CloudTasksClient(...)` against this server, or against any `host:port` (what our code
 * must do with CLOUD_TASKS_EMULATOR_HOST, which the client ignores): plaintext gRPC, no credential
 * lookup (`sslCreds`), no metadata-server probe (`universeDomain`).
 */
export function tasksClientOptions(target: { host: string; port: number } | string): CloudTasksClientOptions {
  const { host, port } = typeof target === 'string' ? parseHostPort(target) : target;
  return {
    apiEndpoint: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
  };
}

export function parseHostPort(hostPort: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort.trim());
  if (!match) throw new Error(`Expected host:port (e.g. 127.0.0.1:8123), got "${hostPort}"`);
  return { host: match[1]!, port: Number(match[2]) };
}
