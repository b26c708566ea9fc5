'use strict';
// Token broker benchmark (issue 6; `main()` is what bench/run.js calls): 50 processes sharing one state
// store all need the token of one account at once. Reports the time until every process holds the (same, valid) token, as a ratio to
// one login's latency, with exactly one login; process start-up is measured apart (the processes are
// started first and told to go together). A loopback login endpoint answers after LOGIN_MS, like a real
// login, and kills every earlier token, as XMP does.
//   node bench/tokens.js            (after npm run build)
//   PROCESSES=50 LOGIN_MS=200,50 ROUNDS=5 POLLS=50:1.3,20:1.15 node bench/tokens.js
const { spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');
const { once } = require('node:events');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { randomBytes } = require('node:crypto');

const dist = path.resolve(__dirname, '../dist/src');
const { FsObjectStore } = require(`${dist}/store/fs-store.js`);

/** A child: one broker on the shared store; for each "go <account> <loginUrl>" line, one getToken. */
function child() {
  const { openStore } = require(`${dist}/store/open.js`);
  const { LeaseManager } = require(`${dist}/lease/lease.js`);
  const { createTokenBroker } = require(`${dist}/token/broker.js`);
  const { systemClock } = require(`${dist}/util/clock.js`);
  const { createLogger } = require(`${dist}/util/log.js`);
  const storeUri = process.argv[3];
  (async () => {
    const store = await openStore(storeUri);
    const logger = createLogger(() => undefined);
    const leases = new LeaseManager(store, systemClock, logger);
    // One broker per poll setting the parent asks for, so settings are compared side by side.
    const brokers = new Map();
    const brokerFor = (poll) => {
      if (!brokers.has(poll)) {
        const [pollInitialMs, pollFactor] = poll.split(':').map(Number);
        const settings = pollInitialMs ? { pollInitialMs, pollFactor } : {};
        brokers.set(poll, createTokenBroker({ store, leases, clock: systemClock, logger, settings }));
      }
      return brokers.get(poll);
    };
    // Part of process start-up, not of the login: Node loads its fetch implementation on first use.
    await (await fetch(process.argv[4], { method: 'GET' })).text();
    process.stdout.write('ready\n');
    for await (const line of readline.createInterface({ input: process.stdin })) {
      const [command, account, loginUrl, poll = 'default'] = line.trim().split(' ');
      if (command !== 'go') continue;
      const t0 = performance.now();
      // The process that logs in says when its login started and ended, for the breakdown.
      let login = null;
      const token = await brokerFor(poll).getToken(account, async (signal) => {
        const started = performance.now() - t0;
        const response = await fetch(loginUrl, { method: 'POST', signal });
        const body = await response.json();
        login = { started, ended: performance.now() - t0 };
        return { token: body.token, expiresAt: Date.now() + 3_600_000 };
      });
      process.stdout.write(`${JSON.stringify({ account, token, ms: performance.now() - t0, login })}\n`);
    }
  })().catch((error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  });
}

/** The login endpoint: answers after `delayMs`, counts logins, and kills every earlier token. */
async function startLoginServer() {
  const state = { delayMs: 0, logins: 0, current: null };
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.method === 'GET') return req.on('end', () => res.end('warm'));
    req.on('end', () =>
      setTimeout(() => {
        state.logins++;
        state.current = `tok-${randomBytes(8).toString('hex')}`;
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ token: state.current }));
      }, state.delayMs),
    );
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/login`, state, close: () => server.close() };
}

function startChildren(count, storeUri, warmUrl) {
  return Array.from({ length: count }, () => {
    const proc = spawn(process.execPath, [path.join(__dirname, 'tokens.js'), 'child', storeUri, warmUrl], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: process.env,
    });
    const lines = [];
    const waiters = [];
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      lines.push({ line, at: performance.now() });
      for (const w of waiters.splice(0)) w();
    });
    // A child that died is reported by `next`; writing to it must not crash the benchmark.
    proc.stdin.on('error', () => undefined);
    let exited = null;
    proc.on('exit', (code, signal) => {
      exited = `child ${proc.pid} exited (${code ?? signal})`;
      for (const w of waiters.splice(0)) w();
    });
    const next = async (index) => {
      while (lines.length <= index) {
        if (exited) throw new Error(exited);
        await new Promise((resolve) => waiters.push(resolve));
      }
      return lines[index];
    };
    return { proc, next };
  });
}

/** One login's latency as a client sees it: a POST to the endpoint, median of 5. */
async function loginLatency(url) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await (await fetch(url, { method: 'POST' })).json();
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function main() {
  const count = Number(process.env.PROCESSES ?? 50);
  const loginDelays = (process.env.LOGIN_MS ?? '200,50').split(',').map(Number);
  const rounds = Number(process.env.ROUNDS ?? 5);
  // Other poll settings to measure beside the default, as initialMs:factor (e.g. POLLS=50:1.3,20:1.15).
  const polls = ['default', ...(process.env.POLLS ?? '').split(',').filter(Boolean)];
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-tokens-'));
  const server = await startLoginServer();
  let children = [];
  try {
    const spawnedAt = performance.now();
    children = startChildren(count, path.join(dir, 'state'), server.url);
    const ready = await Promise.all(children.map((c) => c.next(0)));
    const startupMs = Math.max(...ready.map((r) => r.at)) - spawnedAt;

    let lineIndex = 1;
    /** Every process asks for the token at once; resolves with the time until the last one holds it. */
    const allAtOnce = async (account, expectLogins, poll = 'default') => {
      const loginsBefore = server.state.logins;
      const t0 = performance.now();
      for (const c of children) c.proc.stdin.write(`go ${account} ${server.url} ${poll}\n`);
      const results = await Promise.all(children.map((c) => c.next(lineIndex)));
      lineIndex++;
      const tokens = new Set(results.map((r) => JSON.parse(r.line).token));
      const logins = server.state.logins - loginsBefore;
      if (logins !== expectLogins)
        throw new Error(`${logins} logins for ${account}, expected ${expectLogins}`);
      if (tokens.size !== 1 || !tokens.has(server.state.current))
        throw new Error(`processes hold ${tokens.size} different tokens, or one a later login killed`);
      const leader = results.map((r) => JSON.parse(r.line).login).find(Boolean) ?? null;
      return { ms: Math.max(...results.map((r) => r.at)) - t0, leader };
    };
    const store = new FsObjectStore(path.join(dir, 'state'));
    const runs = [];
    const summary = (results, loginMs) => {
      const samples = results.map((r) => r.ms);
      return {
        medianMs: round1(median(samples)),
        bestMs: round1(Math.min(...samples)),
        ratio: +(median(samples) / loginMs).toFixed(3),
        bestRatio: +(Math.min(...samples) / loginMs).toFixed(3),
        // Where the median round's time went: until the login started (the race for the lease), the
        // login as the winner saw it, and from its end until the last process held the token.
        breakdownMs: breakdown(results.find((r) => r.ms === median(samples))),
      };
    };
    for (const delayMs of loginDelays) {
      server.state.delayMs = delayMs;
      const loginMs = await loginLatency(server.url);
      const samples = new Map(polls.map((poll) => [poll, { first: [], expired: [], reads: [] }]));
      // A warm-up round (JIT, first store access of each process), not counted.
      for (const poll of polls)
        await allAtOnce(`bench-${delayMs}-${poll.replaceAll(':', '_')}-warmup`, 1, poll);
      // Rounds of each poll setting alternate, so that they share the machine's moods.
      for (let round = 0; round < rounds; round++) {
        for (const poll of polls) {
          const account = `bench-${delayMs}-${poll.replaceAll(':', '_')}-${round}`;
          const s = samples.get(poll);
          // A new account: no token object, no history.
          s.first.push(await allAtOnce(account, 1, poll));
          // The floor: the token is valid, every process only reads it.
          s.reads.push((await allAtOnce(account, 0, poll)).ms);
          // The usual case: the token has expired; the object remembers how long the last login took.
          const found = await store.get(`tokens/${account}.json`);
          const record = JSON.parse(found.data.toString('utf8'));
          await store.put(
            `tokens/${account}.json`,
            JSON.stringify({ ...record, expires_at: new Date(Date.now() - 1000).toISOString() }),
            { ifGenerationMatch: found.generation },
          );
          s.expired.push(await allAtOnce(account, 1, poll));
        }
      }
      for (const poll of polls) {
        const s = samples.get(poll);
        runs.push({
          loginDelayMs: delayMs,
          poll: poll === 'default' ? 'default' : poll,
          loginLatencyMs: round1(loginMs),
          newAccount: summary(s.first, loginMs),
          expiredToken: summary(s.expired, loginMs),
          // The floor: every process reading a valid token at once.
          validTokenReadMs: round1(median(s.reads)),
        });
      }
    }
    const result = {
      benchmark: 'tokens',
      processes: count,
      store: 'fs',
      rounds,
      processStartupMs: round1(startupMs),
      runs,
      goal: 'ratio <= 1.5 (all processes hold the token within 1.5 logins), plus process start-up',
    };
    return result;
  } finally {
    // Also after a failure, so that the benchmark exits instead of waiting on its children.
    for (const c of children) c.proc.kill();
    await Promise.all(children.map((c) => (c.proc.exitCode === null ? once(c.proc, 'exit') : null)));
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function breakdown(round) {
  if (!round?.leader) return null;
  return {
    toLoginStart: round1(round.leader.started),
    login: round1(round.leader.ended - round.leader.started),
    afterLogin: round1(round.ms - round.leader.ended),
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function round1(ms) {
  return Math.round(ms * 10) / 10;
}

module.exports = { main };

if (require.main === module) {
  if (process.argv[2] === 'child') child();
  else
    main().then(
      (result) => console.log(JSON.stringify(result, null, 2)),
      (error) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
}
