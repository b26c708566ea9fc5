'use strict';
// Takes a lease and holds it (renewing) until killed: the holder a test kills with SIGKILL.
// Usage: node hold-lease.js <state store URI> <lease name> <holder> <ttl ms>
const path = require('node:path');
const dist = path.resolve(__dirname, '../../../dist/src');
const { openStore } = require(`${dist}/store/open.js`);
const { LeaseManager } = require(`${dist}/lease/lease.js`);
const { systemClock } = require(`${dist}/util/clock.js`);
const { createLogger } = require(`${dist}/util/log.js`);

const [uri, name, holder, ttl] = process.argv.slice(2);
(async () => {
  const leases = new LeaseManager(
    await openStore(uri),
    systemClock,
    createLogger(() => undefined),
  );
  const result = await leases.tryAcquire(name, holder, Number(ttl));
  process.stdout.write(result.acquired ? 'held\n' : `busy ${result.holder.holder}\n`);
  setInterval(() => undefined, 1 << 30);
})().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
