import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { parseConfig } from '../../src/config/load';
import type { DispatchMode } from '../../src/config/types';
import { createFunctionHandler } from '../../src/http/function-handler';
import { passJsonParseErrorsThrough } from '../../src/http/json-parse-errors';
import { CollectorRegistry } from '../../src/runtime/registry';
import { SkipRun } from '../../src/runtime/errors';
import { createServices } from '../../src/create-services';
import { createLogger, type LogEntry } from '../../src/util/log';
import {
  makeSigningKey,
  serviceAccountClaims,
  signIdToken,
  startGoogleCertsServer,
  type GoogleCertsServer,
  type SigningKey,
} from '../support/google-certs';
import { json, startServer, type TestServer } from '../support/http';
import { startTasksServer, type TasksServer } from '../support/tasks-server';
import { testCollector } from '../support/test-collectors';

export const SCHEDULER_SA = 'scheduler-invoker@test-project.iam.gserviceaccount.com';
export const TASKS_SA = 'collector-tasks@test-project.iam.gserviceaccount.com';
export const OUTSIDER = 'someone@attacker.example';

/** The secret values the tests use: none may appear in any answer, log, CLI line or stored object. */
export const SECRETS = {
  PROBE_API_KEY: 'probe-api-key-7f3c9a1e5b',
  ECHO_API_KEY: 'echo-api-key-2d8e4b6a0c',
  OTHER_SECRET: 'other-secret-value-91b7e3',
  INCOMING_TOKEN: 'incoming-bearer-5c1a9e7f3d2b',
  URL_PASSWORD: 'url-password-64d2a8c0e1',
  URL_KEY: 'url-query-key-0b9f7d5e3a',
} as const;

/** How the function is deployed in one variant of the suite. */
export interface Variant {
  name: string;
  mode: DispatchMode;
  auth: 'none' | 'bearer' | 'google-id-token';
}

export const VARIANTS: Variant[] = [
  { name: 'local default (incoming none), http mode', mode: 'http', auth: 'none' },
  { name: 'bearer, http mode', mode: 'http', auth: 'bearer' },
  { name: 'google-id-token, tasks mode', mode: 'tasks', auth: 'google-id-token' },
];

/** Every text that left the system under test, for the secret scan. */
export interface Outputs {
  answers: string[];
  logs: LogEntry[];
  cli: string[];
}

export interface HostileRig {
  variant: Variant;
  /** The function, served by functions-framework on loopback (collector URLs point at its routes). */
  url: string;
  /** A server no config names: any request it receives is a leak. */
  canary: TestServer;
  /** The one upstream the config names (probe and echo fetch from it). */
  upstream: TestServer;
  tasks: TasksServer | null;
  certs: GoogleCertsServer | null;
  key: SigningKey;
  rogue: SigningKey;
  configFile: string;
  dir: string;
  env: Record<string, string | undefined>;
  outputs: Outputs;
  /** Minted tokens: credentials too, so the scan looks for them. */
  tokens: string[];
  /** Authorization headers of a legitimate caller (Cloud Scheduler, or the operator's bearer). */
  valid(): Record<string, string>;
  /** An ID token signed by the published key, for these claims (recorded for the scan). */
  idToken(aud: string, email: string, overrides?: Parameters<typeof serviceAccountClaims>[2]): string;
  send(
    method: 'GET' | 'POST' | 'DELETE',
    pathname: string,
    options?: { body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    body: { error?: { code: string; message: string } } & Record<string, unknown>;
  }>;
  /** Tasks mode: every task delivered and finished. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

let registered = 0;

/**
 * A collector that does what sirene and xmp do with their options: fetch `base_url` + `path` with the
 * credential named by `api_key_env`. Were options ever taken from a request, this is how a caller would
 * send a secret to a host of its choosing; an upstream error is quoted in full (it may echo the header).
 */
export const probe = testCollector('probe', async (ctx) => {
  const name = String(ctx.options['api_key_env']);
  const key = await ctx.secrets.get({ env: name });
  if (!key) throw new SkipRun('missing_credentials', `${name} is not set`);
  const response = await ctx.fetch(
    `${String(ctx.options['base_url'])}${String(ctx.options['path'] ?? '/data')}`,
    {
      headers: { authorization: `Bearer ${key}` },
      signal: ctx.signal,
    },
  );
  const text = await response.text();
  if (!response.ok) throw new Error(`upstream answered ${response.status}: ${text}`);
  return { records: 1 };
});

export async function startHostileRig(variant: Variant, dir: string): Promise<HostileRig> {
  passJsonParseErrorsThrough();
  const canary = await startServer((_req, res) => json(res, 200, { ok: true }));
  const upstream = await startServer((req, res) => {
    // An upstream that quotes the request back in its error, as some do: header, and URL with userinfo
    // and query, all carrying the key.
    if (req.url?.startsWith('/echo')) {
      const auth = String(req.headers.authorization);
      const key = auth.replace(/^Bearer /, '');
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(
        `refused. Authorization: ${auth}\nrequest: http://probe:${key}@upstream.example/echo?key=${key}`,
      );
      return;
    }
    json(res, 200, { records: 1 });
  });
  const key = makeSigningKey('loopback-key-1');
  const rogue = makeSigningKey('loopback-key-1');
  const certs = variant.auth === 'google-id-token' ? await startGoogleCertsServer([key]) : null;
  const tokens: string[] = [];
  const idToken: HostileRig['idToken'] = (aud, email, overrides) => {
    const token = signIdToken(key, serviceAccountClaims(aud, email, overrides));
    tokens.push(token);
    return token;
  };
  const tasks =
    variant.mode === 'tasks'
      ? await startTasksServer({
          autoCreateQueues: { maxAttempts: 2, minBackoffSeconds: 0.01, maxBackoffSeconds: 0.01 },
          // Cloud Tasks' OIDC tokens, signed by "Google": the collector route must accept them.
          oidcToken: (audience, email) => idToken(audience, email ?? ''),
        })
      : null;

  const functionName = `scheduler-hostile-${++registered}`;
  registerFunction(functionName);
  const server: Server = getTestServer(functionName);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const env: Record<string, string | undefined> = {
    ...process.env,
    ...SECRETS,
    ...(tasks ? { CLOUD_TASKS_EMULATOR_HOST: tasks.address } : {}),
  };
  const yaml = configText(variant, dir, url, upstream.url, certs?.certsUrl ?? null);
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(configFile, yaml);

  const outputs: Outputs = { answers: [], logs: [], cli: [] };
  const registry = () => new CollectorRegistry([probe]);
  handlers.set(
    functionName,
    createFunctionHandler(async () =>
      createServices(parseConfig(yaml, configFile, env, { builtinCollectors: ['probe'] }), {
        env,
        logger: createLogger((e) => outputs.logs.push(e), {}, 'DEBUG'),
        registry: registry(),
      }),
    ),
  );

  const rig: HostileRig = {
    variant,
    url,
    canary,
    upstream,
    tasks,
    certs,
    key,
    rogue,
    configFile,
    dir,
    env,
    outputs,
    tokens,
    valid() {
      if (variant.auth === 'bearer') return { authorization: `Bearer ${SECRETS.INCOMING_TOKEN}` };
      if (variant.auth === 'google-id-token')
        return { authorization: `Bearer ${idToken(url, SCHEDULER_SA)}` };
      return {};
    },
    idToken,
    async send(method, pathname, options = {}) {
      let call =
        method === 'GET'
          ? request(url).get(pathname)
          : method === 'DELETE'
            ? request(url).delete(pathname)
            : request(url).post(pathname);
      for (const [name, value] of Object.entries(options.headers ?? {})) call = call.set(name, value);
      if (options.raw !== undefined) call = call.set('content-type', 'application/json').send(options.raw);
      else if (options.body !== undefined) call = call.send(options.body as object);
      const res = await call;
      outputs.answers.push(`${res.status} ${JSON.stringify(res.headers)} ${res.text}`);
      return { status: res.status, body: res.body as Awaited<ReturnType<HostileRig['send']>>['body'] };
    },
    settled: async () => {
      await tasks?.waitForIdle();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([canary.close(), upstream.close(), certs?.close(), tasks?.close()]);
    },
  };
  return rig;
}

/** The handler behind each registered function name (set once its config is known). */
const handlers = new Map<string, ReturnType<typeof createFunctionHandler>>();

/** A function target in functions-framework's registry, as src/index.ts registers `scheduler`. */
function registerFunction(name: string): void {
  ff.http(name, async (req, res) => {
    const handler = handlers.get(name);
    if (!handler) throw new Error(`no handler for ${name}`);
    await handler(req, res);
  });
}

function configText(
  variant: Variant,
  dir: string,
  fn: string,
  upstream: string,
  certsUrl: string | null,
): string {
  const auth = {
    none: ['  auth: { type: none }'],
    // No incoming_auth: the function demands the token the scheduler sends (normalise's default).
    bearer: ['  auth: { type: bearer, token_env: INCOMING_TOKEN }'],
    'google-id-token': [
      '  auth: { type: none }',
      '  incoming_auth:',
      '    type: google-id-token',
      `    audiences: ["${fn}"]`,
      `    allowed_emails: [${SCHEDULER_SA}, ${TASKS_SA.toUpperCase()}]`,
      `    certs_url: "${certsUrl}"`,
    ],
  }[variant.auth];
  return [
    'timezone: Europe/Paris',
    `storage: { reports: ${dir}/reports, raw: ${dir}/raw, state: ${dir}/state }`,
    'scheduler:',
    `  mode: ${variant.mode}`,
    '  retry: { attempts: 2, min_backoff_seconds: 0, max_backoff_seconds: 0 }',
    `  tasks: { project: test-project, location: us-central1, queue: collectors, service_account_email: ${TASKS_SA}, max_attempts: 2 }`,
    ...auth,
    'collectors:',
    `  probe: { url: "${fn}/collectors/probe", schedule: "0 14 * * *", options: { base_url: "${upstream}", api_key_env: PROBE_API_KEY } }`,
    `  echo: { collector: probe, url: "${fn}/collectors/echo", options: { base_url: "${upstream}", path: /echo, api_key_env: ECHO_API_KEY } }`,
    `  off: { collector: probe, url: "${fn}/collectors/off", enabled: false, options: { base_url: "${upstream}", api_key_env: PROBE_API_KEY } }`,
    // Never dispatched (disabled; only ever in a dry run): a URL carrying credentials and a key.
    `  keyed: { collector: probe, enabled: false, url: "https://keyed:\${URL_PASSWORD}@collectors.example/keyed?key=\${URL_KEY}", options: { base_url: "${upstream}", api_key_env: PROBE_API_KEY } }`,
    '',
  ].join('\n');
}

/** Every file under `dir`, as text. */
export function storedObjects(dir: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const file = path.join(d, name);
      if (statSync(file).isDirectory()) walk(file);
      else out.push({ file, text: readFileSync(file, 'utf8') });
    }
  };
  walk(dir);
  return out;
}
