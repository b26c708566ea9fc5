'use strict';
// Takes an account's login lease through the token broker and hangs in the login until killed: the
// process a test kills with SIGKILL while it holds the lease.
// Usage: node hold-login.js <state store URI> <account> <login lease ttl ms>
// Prints "logging-in" once the lease is held and the login has started.
const path = require('node:path');
const dist = path.resolve(__dirname, '../../../dist/src');
const { openStore } = require(`${dist}/store/open.js`);
const { LeaseManager } = require(`${dist}/lease/lease.js`);
const { createTokenBroker } = require(`${dist}/token/broker.js`);
const { systemClock } = require(`${dist}/util/clock.js`);
const { createLogger } = require(`${dist}/util/log.js`);

const [uri, account, ttl] = process.argv.slice(2);
(async () => {
  const store = await openStore(uri);
  const logger = createLogger(() => undefined);
  const broker = createTokenBroker({
    store,
    leases: new LeaseManager(store, systemClock, logger),
    clock: systemClock,
    logger,
    settings: { loginLeaseTtlMs: Number(ttl), loginTimeoutMs: 10 * 60_000 },
  });
  // Held open until killed: the broker's timers are unref'd (a CLI must not linger on them) and this
  // login, unlike a real one, waits on no socket, so nothing else keeps the process alive. Without
  // this it exits by itself just after printing "logging-in", racing the test's kill.
  setInterval(() => undefined, 1 << 30);
  await broker.getToken(account, () => {
    process.stdout.write('logging-in\n');
    return new Promise(() => undefined);
  });
})().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
