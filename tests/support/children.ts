import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { until } from './wait';

/**
 * Real child processes for tests that stop them (signals, kill -9): the compiled CLI, and the function
 * under functions-framework's own server, as `npm start` and Cloud Run serve it. Tests synchronise on
 * what a child prints or on requests it makes, never on sleeps.
 */

export const ROOT = path.resolve(__dirname, '../..');
export const CLI = path.join(ROOT, 'bin/scheduler.js');
/** functions-framework's server entry (its package's exports map hides it; resolve it beside the entry). */
export const FF_MAIN = path.join(
  path.dirname(require.resolve('@google-cloud/functions-framework')),
  'main.js',
);

export interface Child {
  readonly process: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number when killed by a signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startChild(args: string[], env: Record<string, string | undefined> = {}): Child {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // jest gives each test file its own process.env (a gcs fixture sets STORAGE_EMULATOR_HOST in it).
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { process: child, stdout: () => out, stderr: () => err, exited };
}

/** Waits until `test` holds on the child's output; a child that exits first fails the wait at once. */
export async function untilPrinted(
  child: Child,
  test: (stdout: string, stderr: string) => boolean,
  what: string,
) {
  await until(() => {
    if (test(child.stdout(), child.stderr())) return true;
    if (child.process.exitCode !== null || child.process.signalCode !== null)
      throw new Error(
        `child exited (${child.process.exitCode ?? child.process.signalCode}) before ${what}:\n${child.stdout()}\n${child.stderr()}`,
      );
    return false;
  }, what);
}

/** A port nothing listens on now (a test that binds it must handle EADDRINUSE: see startFunction). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The function (target `scheduler`, dist/src/index.js) under functions-framework's server, listening on
 * a free port. A port taken between choosing and binding it is chosen again.
 */
export async function startFunction(
  env: Record<string, string | undefined>,
): Promise<Child & { url: string }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = startChild(
      [FF_MAIN, '--target=scheduler', `--source=${path.join(ROOT, 'dist/src/index.js')}`, `--port=${port}`],
      env,
    );
    try {
      await untilPrinted(child, (out) => out.includes('Serving function...'), 'serving');
      return Object.assign(child, { url: `http://127.0.0.1:${port}` });
    } catch (error) {
      if (attempt < 3 && child.stderr().includes('EADDRINUSE')) continue;
      throw error;
    }
  }
}

export interface Answer {
  status: number;
  body: unknown;
}

/** A POST to a child; rejects if the connection drops (the child was killed). */
export function post(url: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = raw;
          try {
            parsed = JSON.parse(raw);
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** Whether something accepts connections on the port of `url`. */
export function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
