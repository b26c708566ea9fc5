import type * as http from 'node:http';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { DispatchMode } from '../../src/config/types';
import { createApp } from '../../src/http/app';
import { close, createNodeServer, listen } from '../../src/http/node-server';
import type { ExecutionReport } from '../../src/report/report';
import type { CollectorRegistry } from '../../src/runtime/registry';
import type { Services } from '../../src/services';
import type { LogEntry } from '../../src/util/log';
import { planQueues } from '../../src/tasks/queues';
import { FakeClock } from '../support/fake-clock';
import { testServices } from '../support/services';
import type { StoreFixture } from '../support/stores';
import { startTasksServer, type TasksServer, type TasksServerOptions } from '../support/tasks-server';

export const SA = 'scheduler@test-project.iam.gserviceaccount.com';
export const START = '2026-11-22T14:00:00Z';

export interface RigOptions {
  mode: DispatchMode;
  storage: StoreFixture;
  /** A temp dir for the config file. */
  dir: string;
  registry: CollectorRegistry;
  /** `name: { ...settings }` per collector (the URL is added: this scheduler's own collector route). */
  collectors: Record<string, string>;
  /** Appended to each collector's URL (e.g. a query string). */
  urlSuffix?: string;
  /** Extra lines under `scheduler:`. */
  scheduler?: string;
  /** The Cloud Tasks server's own options (its clock, routes). */
  tasksServer?: TasksServerOptions;
  /** The scheduler's random source (jitter, backoff). */
  random?: () => number;
}

/**
 * One scheduler as deployed, on loopback: its app (trigger, status and collector routes) served by
 * node:http, its stores from a fixture, and in tasks mode a Cloud Tasks server whose queues are created
 * from the config's queue plan (what `scheduler queues --apply` does), reached through
 * CLOUD_TASKS_EMULATOR_HOST. Collector URLs point at the app's own collector routes, so in both modes a
 * run goes trigger → dispatch → POST /collectors/NAME → run record.
 */
export interface Rig {
  services: Services & { logs: LogEntry[] };
  url: string;
  tasks: TasksServer | null;
  configFile: string;
  clock: FakeClock;
  /** POST / or /run on the app. */
  trigger(
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: ExecutionReport }>;
  get(pathname: string): Promise<{ status: number; body: ExecutionReport }>;
  /** Tasks mode: every task delivered and finished. HTTP mode: nothing to wait for. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

let rigs = 0;

export async function startRig(options: RigOptions): Promise<Rig> {
  // Each rig its own storage locations, so tests sharing a fixture never see each other's reports.
  const prefix = `rig-${++rigs}`;
  const uri = (name: string) => options.storage.uri(`${prefix}/${name}`);
  let services: Rig['services'] | null = null;
  const server: http.Server = createNodeServer(createApp(async () => services!));
  const url = await listen(server);
  const tasks =
    options.mode === 'tasks'
      ? await startTasksServer({ clock: new FakeClock(START), ...options.tasksServer })
      : null;
  const collectors = Object.entries(options.collectors)
    .map(([name, settings]) => {
      const body = settings
        .trim()
        .replace(/^\{|\}$/g, '')
        .trim();
      const target = `url: "${url}/collectors/${name}${options.urlSuffix ?? ''}"`;
      return `  ${name}: { ${body ? `${body}, ` : ''}${target} }`;
    })
    .join('\n');
  const yaml = [
    'timezone: Europe/Paris',
    `storage: { reports: ${uri('reports')}, raw: ${uri('raw')}, state: ${uri('state')} }`,
    'scheduler:',
    `  mode: ${options.mode}`,
    '  auth: { type: none }',
    '  retry: { attempts: 3, min_backoff_seconds: 1, max_backoff_seconds: 1 }',
    `  tasks: { project: test-project, location: us-central1, queue: collectors, service_account_email: ${SA}, max_attempts: 3 }`,
    ...(options.scheduler ? [options.scheduler] : []),
    'collectors:',
    collectors,
  ].join('\n');
  const clock = new FakeClock(START);
  const configFile = path.join(options.dir, 'config.yaml');
  writeFileSync(configFile, yaml);
  services = await testServices(yaml, options.dir, {
    registry: options.registry,
    clock,
    ...(options.random ? { random: options.random } : {}),
    // What the function would see in its environment; the gcs fixture's endpoint is in process.env.
    env: { ...process.env, ...(tasks ? { CLOUD_TASKS_EMULATOR_HOST: tasks.address } : {}) },
  });
  if (tasks) {
    for (const q of planQueues(services.config)) {
      tasks.createQueue(q.id, {
        maxConcurrentDispatches: q.maxConcurrentDispatches,
        maxDispatchesPerSecond: q.maxDispatchesPerSecond,
        maxAttempts: q.maxAttempts,
        minBackoffSeconds: q.minBackoffSeconds,
        maxBackoffSeconds: q.maxBackoffSeconds,
      });
    }
  }

  const call = async (
    method: string,
    pathname: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${url}${pathname}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as ExecutionReport };
  };
  return {
    services,
    url,
    tasks,
    configFile,
    clock,
    trigger: (body, headers) => call('POST', '/run', body, headers),
    get: (pathname) => call('GET', pathname),
    settled: async () => {
      await tasks?.waitForIdle();
    },
    close: async () => {
      await tasks?.close();
      await services?.close();
      await close(server);
    },
  };
}
