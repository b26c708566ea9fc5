import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
// The @grpc/grpc-js copy google-gax (and so the Tasks client) uses.
import { grpc } from 'google-gax';
import type { QueueMessage, TasksRequestMessage, Timestamp } from './messages';
import { QUEUE_DEFAULTS, type QueueSettings, type TaskRecord } from './records';

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
export const S = grpc.status;
export const invalid = (message: string) => new RpcError(S.INVALID_ARGUMENT, message);

export interface QueueConfig {
  maxDispatchesPerSecond: number;
  maxBurstSize: number;
  maxConcurrentDispatches: number;
  maxAttempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  maxDoublings: number;
  maxRetryDurationMs: number;
}

export interface Queue {
  name: string;
  config: QueueConfig;
  state: 'RUNNING' | 'PAUSED';
  purgeTime: number | null;
  stackdriverLoggingConfig: { samplingRatio?: number } | null;
  active: Set<Entry>;
  inFlight: number;
  maxInFlight: number;
  tokens: number;
  tokensAt: number;
  rateWake: AbortController | null;
}

export interface Entry {
  record: TaskRecord;
  queue: Queue;
  seq: number;
  /** Nominal due time (clock ms) of the next attempt. */
  dueAt: number;
  /** The due time has been reached (waits are scaled, so `dueAt <= now` is not the test). */
  ready: boolean;
  wait: AbortController | null;
}

export type Handler = (request: TasksRequestMessage) => object;

let packageDefinition: protoLoader.PackageDefinition | null = null;

export function cloudTasksService(): grpc.ServiceDefinition {
  if (!packageDefinition) {
    // The package's exports map hides build/protos; resolve it from the main entry (build/cjs/src/index.cjs).
    const file = path.join(require.resolve('@google-cloud/tasks'), '../../../protos/protos.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Parameters<typeof protoLoader.fromJSON>[0];
    packageDefinition = protoLoader.fromJSON(json, { longs: String, enums: String, oneofs: true });
  }
  const root = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    google: { cloud: { tasks: { v2: { CloudTasks: { service: grpc.ServiceDefinition } } } } };
  };
  return root.google.cloud.tasks.v2.CloudTasks.service;
}

export const msOf = (t: Timestamp | null | undefined): number | null =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : null;
export const stampOf = (ms: number): Timestamp => ({
  seconds: String(Math.floor(ms / 1000)),
  nanos: (((ms % 1000) + 1000) % 1000) * 1e6,
});
export const secondsOf = (ms: number) => `${Math.round(ms) / 1000}s`;
export const isLoopback = (hostname: string) =>
  hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\./.test(hostname);
export const shortName = (name: string) => name.slice(name.lastIndexOf('/') + 1);
export const clone = <T>(value: T): T => structuredClone(value);

/** HTTP status to the google.rpc code Cloud Tasks reports in `lastAttempt.responseStatus`. */
export function rpcCodeOfHttp(status: number): number {
  if (status >= 200 && status < 300) return S.OK;
  const table: Record<number, number> = {
    400: S.INVALID_ARGUMENT,
    401: S.UNAUTHENTICATED,
    403: S.PERMISSION_DENIED,
    404: S.NOT_FOUND,
    409: S.ABORTED,
    429: S.RESOURCE_EXHAUSTED,
    499: S.CANCELLED,
    501: S.UNIMPLEMENTED,
    503: S.UNAVAILABLE,
    504: S.DEADLINE_EXCEEDED,
  };
  return table[status] ?? (status >= 500 ? S.INTERNAL : S.FAILED_PRECONDITION);
}

export function sendHttp(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer,
  signal: AbortSignal,
  agents: { http: http.Agent; https: https.Agent },
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { method, headers, signal };
    const req =
      url.protocol === 'https:'
        ? https.request(url, { ...options, agent: agents.https, rejectUnauthorized: false })
        : http.request(url, { ...options, agent: agents.http });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 4096) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error('response aborted before its end'));
      });
    });
    req.on('error', reject);
    req.end(body.length > 0 ? body : undefined);
  });
}

export function settingsToConfig(settings: QueueSettings, base: QueueConfig): QueueConfig {
  const seconds = (value: number | undefined, fallback: number) =>
    value === undefined ? fallback : Math.round(value * 1000);
  return {
    maxDispatchesPerSecond: settings.maxDispatchesPerSecond ?? base.maxDispatchesPerSecond,
    maxBurstSize: base.maxBurstSize,
    maxConcurrentDispatches: settings.maxConcurrentDispatches ?? base.maxConcurrentDispatches,
    maxAttempts: settings.maxAttempts ?? base.maxAttempts,
    minBackoffMs: seconds(settings.minBackoffSeconds, base.minBackoffMs),
    maxBackoffMs: seconds(settings.maxBackoffSeconds, base.maxBackoffMs),
    maxDoublings: settings.maxDoublings ?? base.maxDoublings,
    maxRetryDurationMs: seconds(settings.maxRetryDurationSeconds, base.maxRetryDurationMs),
  };
}

/**
 * Applies a Queue message over `base`. With `paths` (camelCase), only those fields change, and a listed
 * field that is absent goes back to its default; without, every field changes (absent: default), as
 * UpdateQueue documents. Proto3 cannot send a zero, so zero means "default" (maxBurstSize is output only).
 */
export function messageToConfig(
  message: QueueMessage,
  base: QueueConfig,
  paths: string[] | null,
): QueueConfig {
  const covered = (field: string) =>
    !paths || paths.some((p) => p === field || field.startsWith(`${p}.`) || p.startsWith(`${field}.`));
  const pick = (field: string, value: number | null | undefined, key: keyof QueueConfig): number => {
    if (!covered(field)) return base[key];
    return value === null || value === undefined || value === 0 ? QUEUE_DEFAULTS[key] : value;
  };
  const r = message.rateLimits ?? {};
  const c = message.retryConfig ?? {};
  return {
    maxDispatchesPerSecond: pick(
      'rateLimits.maxDispatchesPerSecond',
      r.maxDispatchesPerSecond,
      'maxDispatchesPerSecond',
    ),
    maxBurstSize: base.maxBurstSize,
    maxConcurrentDispatches: pick(
      'rateLimits.maxConcurrentDispatches',
      r.maxConcurrentDispatches,
      'maxConcurrentDispatches',
    ),
    maxAttempts: pick('retryConfig.maxAttempts', c.maxAttempts, 'maxAttempts'),
    minBackoffMs: pick('retryConfig.minBackoff', msOf(c.minBackoff), 'minBackoffMs'),
    maxBackoffMs: pick('retryConfig.maxBackoff', msOf(c.maxBackoff), 'maxBackoffMs'),
    maxDoublings: pick('retryConfig.maxDoublings', c.maxDoublings, 'maxDoublings'),
    maxRetryDurationMs: pick('retryConfig.maxRetryDuration', msOf(c.maxRetryDuration), 'maxRetryDurationMs'),
  };
}

/** `rate_limits.max_concurrent_dispatches` → `rateLimits.maxConcurrentDispatches`. */
export function camelPath(path: string): string {
  return path.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}
