import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { LEASE_CLOCK_SKEW_MS, LeaseManager, type LeaseRecord } from '../../src/lease/lease';
import type { RunRecord } from '../../src/runtime/contract';
import { openStore } from '../../src/store/open';
import { readJson } from '../../src/store/types';
import { createTokenBroker } from '../../src/token/broker';
import { loginLeaseName, tokenKey, type TokenRecord } from '../../src/token/record';
import type { LoginFn } from '../../src/token/types';
import { FakeClock } from '../support/fake-clock';
import { captureLogger } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';
import { gate } from '../support/upstreams/faults';
import { startXmpUpstream, XMP_LOGIN_PATH, type XmpUpstream } from '../support/upstreams/xmp';
import { until } from '../support/wait';

/**
 * The token broker across real OS processes sharing one store (as Cloud Function instances share a
 * bucket): many runs needing a token at once, and a process killed while it holds the login lease.
 */

const PROCESSES = 20;
const USERNAME = 'collector@example.com';
const PASSWORD = 'xmp-process-password-77aa';
const scripts = path.resolve(__dirname, '../support/processes');

interface Child {
  process: ChildProcess;
  events: Record<string, unknown>[];
  stderr: string[];
  /** Listened for from the start, so an exit that happened before anyone awaits it is not missed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A child whose JSON-line stdout is collected as events. */
function start(script: string, args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [path.join(scripts, script), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // jest gives each test file its own process.env (a gcs fixture sets STORAGE_EMULATOR_HOST in it);
    // a child only sees what is passed.
    env: { ...process.env, ...env },
  });
  const events: Record<string, unknown>[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      events.push({ event: 'text', text: line });
    }
  });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { process: child, events, stderr, exited };
}

/** Whether `child` has printed a matching event; a child that died instead fails the test at once. */
function has(child: Child, test: (e: Record<string, unknown>) => boolean): boolean {
  if (child.events.some(test)) return true;
  if (child.process.exitCode !== null || child.process.signalCode !== null) {
    throw new Error(
      `child ${child.process.pid} exited (${child.process.exitCode ?? child.process.signalCode}) first: ${child.stderr.join('')}`,
    );
  }
  return false;
}

describe.each(STORE_KINDS)('token broker across processes on the %s store', (kind) => {
  const storage = storeFixture(kind);
  let up: XmpUpstream | null = null;
  const children: Child[] = [];
  beforeAll(() => storage.setup());
  afterAll(() => storage.teardown());
  afterEach(async () => {
    for (const child of children.splice(0))
      if (child.process.exitCode === null) child.process.kill('SIGKILL');
    await up?.close();
    up = null;
  });

  it(`gives ${PROCESSES} collector runs started at once one login, and none of them an auth failure`, async () => {
    up = await startXmpUpstream({ username: USERNAME, password: PASSWORD, requestsPerMinute: null });
    // The login answers only once every process is either logging in or waiting on the login lease.
    const held = gate();
    up.faults.inject({ kind: 'slow', gate: held.promise }, { match: new RegExp(XMP_LOGIN_PATH) });
    const account = `shared-${kind}`;
    const options = JSON.stringify({
      auth: 'login',
      account,
      console: { login_url: up.loginUrl, api_base: up.consoleBase },
      mode: 'daily',
    });
    for (let i = 0; i < PROCESSES; i++) {
      children.push(
        start('xmp-run.js', [storage.uri('state'), storage.uri('raw'), options, '2026-11-22T02:00:00.000Z'], {
          XMP_USERNAME: USERNAME,
          XMP_PASSWORD: PASSWORD,
        }),
      );
    }
    await until(() => children.every((c) => has(c, (e) => e.event === 'ready')));
    for (const child of children) child.process.stdin!.write('go\n');

    const waiting = (e: Record<string, unknown>) =>
      e.event === 'log' && /^waiting for the login to account/.test(String(e.message));
    const loginRequests = () => up!.server.requests.filter((r) => r.path === XMP_LOGIN_PATH).length;
    await until(
      () => loginRequests() === 1 && children.filter((c) => has(c, waiting)).length === PROCESSES - 1,
    );
    held.open();
    await until(() => children.every((c) => has(c, (e) => e.event === 'result')));

    const records = children.map((c) => c.events.find((e) => e.event === 'result')!.record as RunRecord);
    expect(records.map((r) => r.status)).toEqual(Array(PROCESSES).fill('success'));
    expect(up.logins).toBe(1);
    expect(loginRequests()).toBe(1);
    expect(up.staleTokenRequests).toBe(0);
    expect(up.rejectedRequests).toBe(0);
    expect(up.calls).toHaveLength(PROCESSES);
    expect(up.calls.every((c) => c.outcome === 'ok')).toBe(true);
    const stored = await readJson<TokenRecord>(await openStore(storage.uri('state')), tokenKey(account));
    expect(stored?.value).toMatchObject({ token: up.currentToken(), logins: 1 });
  }, 90_000);

  it('lets the others log in once the lease of a process killed while logging in expires', async () => {
    const account = `killed-${kind}`;
    const child = start('hold-login.js', [storage.uri('state'), account, '30000']);
    children.push(child);
    await until(() => has(child, (e) => e.text === 'logging-in'));
    child.process.kill('SIGKILL');
    // Killed in the login, not exited on its own before the kill.
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });

    const store = await openStore(storage.uri('state'));
    const lease = await readJson<LeaseRecord>(store, `leases/${loginLeaseName(account)}.json`);
    expect(lease?.value.holder).toMatch(new RegExp(`^token-broker/pid-${child.process.pid}/`));

    // Two surviving processes, on a clock that starts now and moves as they wait.
    const clock = new FakeClock(Date.now());
    let logins = 0;
    const login: LoginFn = async () => ({ token: `after-the-kill-${++logins}-token`, expiresAt: null });
    const survivors = await Promise.all(
      [0, 1].map(async () => {
        const s = await openStore(storage.uri('state'));
        const { logger, entries } = captureLogger();
        return {
          entries,
          broker: createTokenBroker({ store: s, leases: new LeaseManager(s, clock, logger), clock, logger }),
        };
      }),
    );
    const tokens = await Promise.all(survivors.map((s) => s.broker.getToken(account, login)));

    expect(tokens).toEqual(['after-the-kill-1-token', 'after-the-kill-1-token']);
    expect(logins).toBe(1);
    // Nobody logged in before the dead holder's lease ran out (with the margin for clock skew), and
    // nobody waited for the default 120 s.
    const takeoverAt = lease!.value.expiresAt + LEASE_CLOCK_SKEW_MS;
    expect(clock.now()).toBeGreaterThanOrEqual(takeoverAt);
    // Waiters never sleep past the takeover time and poll the token at most every pollMaxMs (1 s): both
    // have the token within 2 s of it, on the clock's own time (how much real time passed before the
    // clock started does not matter, unlike a bound from the clock's start).
    expect(clock.now() - takeoverAt).toBeLessThanOrEqual(2_000);
    const takeovers = survivors
      .flatMap((s) => s.entries)
      .filter((e) => /taken over from token-broker\/pid-/.test(e.message));
    expect(takeovers).toHaveLength(1);
    // Real time goes to starting the child process (seconds on a loaded 2-core machine); the waits are
    // on the fake clock. The same allowance as the test above.
  }, 90_000);
});
