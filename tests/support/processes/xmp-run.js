'use strict';
// One XMP collector run in its own process, as a separate Cloud Function instance would do it: its own
// store clients, lease manager and token broker, sharing only the store with the others.
// Usage: node xmp-run.js <state store URI> <raw store URI> <options JSON> <scheduledTime>
// Prints JSON lines on stdout: {"event":"ready"}, every log entry as {"event":"log",...}, and
// {"event":"result","record":...}. Starts the run when it reads "go" on stdin, so a test can start many
// at once. Credentials come from the environment (XMP_USERNAME, XMP_PASSWORD, ...).
const path = require('node:path');
const readline = require('node:readline');
const dist = path.resolve(__dirname, '../../../dist');
const { openStore } = require(`${dist}/src/store/open.js`);
const { LeaseManager } = require(`${dist}/src/lease/lease.js`);
const { createTokenBroker } = require(`${dist}/src/token/broker.js`);
const { runCollector } = require(`${dist}/src/runtime/run-collector.js`);
const { envSecretSource } = require(`${dist}/src/secrets/env-source.js`);
const { systemClock } = require(`${dist}/src/util/clock.js`);
const { createLogger } = require(`${dist}/src/util/log.js`);
const { xmp } = require(`${dist}/collectors/xmp/index.js`);

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const [stateUri, rawUri, optionsJson, scheduledTime] = process.argv.slice(2);

(async () => {
  const [state, raw] = await Promise.all([openStore(stateUri), openStore(rawUri)]);
  const logger = createLogger((entry) => emit({ event: 'log', ...entry }), { pid: process.pid }, 'DEBUG');
  const tokens = createTokenBroker({
    store: state,
    leases: new LeaseManager(state, systemClock, logger),
    clock: systemClock,
    logger,
  });
  const lines = readline.createInterface({ input: process.stdin });
  const go = new Promise((resolve) => lines.on('line', (line) => line.trim() === 'go' && resolve()));
  emit({ event: 'ready' });
  await go;
  lines.close();
  const { record } = await runCollector(
    xmp,
    {
      executionId: `exec-${process.pid}`,
      collector: 'xmp',
      scheduledTime,
      attempt: 1,
      options: JSON.parse(optionsJson),
    },
    300,
    {
      stores: { raw, state },
      fetch: globalThis.fetch,
      clock: systemClock,
      logger,
      env: process.env,
      secrets: envSecretSource(process.env),
      tokens,
    },
  );
  emit({ event: 'result', record });
})().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
