'use strict';
// Cloud Tasks benchmark (issue 4): enqueue 1,000 collectors through the Tasks dispatcher (the real
// @google-cloud/tasks client over gRPC) against a loopback CloudTasks server answering CreateTask after
// 5 ms. Reports wall time ÷ ideal (1,000 × 5 ms ÷ creation concurrency), CPU ms per task and peak RSS,
// and the same 1,000 calls made with a bare grpc-js client (no gax, no scheduler) at the same
// concurrency against the same server: what the transport costs on this machine, so the dispatcher's
// own overhead can be read off. The server runs in a child process (this file with `server`), so its
// CPU is not counted.
const { fork } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const { once } = require('node:events');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { timeRounds } = require('./measure');

if (process.argv[2] === 'server') {
  serve(Number(process.env.DELAY_MS ?? 5));
} else if (require.main === module) {
  main().then((r) => console.log(JSON.stringify(r, null, 2)));
}

/** Both measurements, side by side, for `npm run bench`. */
async function main(options = {}) {
  const server = await startServer(options.delayMs ?? 5);
  try {
    const scheduler = await bench({ ...options, server });
    const bare = await bareGrpc({ ...options, concurrency: scheduler.concurrency, server });
    return {
      scheduler,
      bareGrpc: bare,
      schedulerOverBare: +(scheduler.wallMs / bare.wallMs).toFixed(3),
      goal: 'ratio ≤ 1.5',
    };
  } finally {
    server.stop();
  }
}

/** CreateTask answers the task after DELAY_MS; nothing else is needed here. Prints its port. */
function serve(delayMs) {
  const { grpc } = require('google-gax');
  const protoLoader = require('@grpc/proto-loader');
  const file = path.join(require.resolve('@google-cloud/tasks'), '../../../protos/protos.json');
  const definition = protoLoader.fromJSON(JSON.parse(fs.readFileSync(file, 'utf8')), {
    longs: String,
    enums: String,
    oneofs: true,
  });
  const service = grpc.loadPackageDefinition(definition).google.cloud.tasks.v2.CloudTasks.service;
  const server = new grpc.Server();
  server.addService(service, {
    createTask(call, callback) {
      const { task } = call.request;
      setTimeout(() => callback(null, { name: task.name, dispatchDeadline: task.dispatchDeadline }), delayMs);
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    process.stdout.write(`127.0.0.1:${port}\n`);
  });
  process.on('disconnect', () => process.exit(0));
}

async function startServer(delayMs) {
  const child = fork(path.join(__dirname, 'tasks.js'), ['server'], {
    env: { ...process.env, DELAY_MS: String(delayMs) },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const [chunk] = await once(child.stdout, 'data');
  return { address: chunk.toString().trim(), stop: () => child.kill() };
}

async function bench({ collectors = 1000, delayMs = 5, concurrency, rounds = 5, server } = {}) {
  if (!server) {
    const own = await startServer(delayMs);
    try {
      return await bench({ collectors, delayMs, concurrency, rounds, server: own });
    } finally {
      own.stop();
    }
  }
  const dist = path.resolve(__dirname, '../dist/src');
  const { parseConfig } = require(`${dist}/config/load.js`);
  const { createTasksDispatcher, TASK_CREATE_CONCURRENCY } = require(`${dist}/dispatch/tasks-dispatcher.js`);
  const { closeTasksClients } = require(`${dist}/tasks/client.js`);
  const { systemClock } = require(`${dist}/util/clock.js`);
  const { createLogger } = require(`${dist}/util/log.js`);
  const limit = concurrency ?? TASK_CREATE_CONCURRENCY;

  const dir = mkdtempSync(path.join(tmpdir(), 'bench-tasks-'));
  try {
    const lines = [
      `storage: { reports: ${dir}/reports, raw: ${dir}/raw, state: ${dir}/state }`,
      'scheduler:',
      '  mode: tasks',
      '  auth: { type: none }',
      '  tasks: { project: bench, location: europe-west1, queue: collectors, service_account_email: s@bench.iam.gserviceaccount.com }',
      'collectors:',
    ];
    for (let i = 0; i < collectors; i++)
      lines.push(`  c${i}: { url: "https://europe-west1-bench.cloudfunctions.net/c${i}" }`);
    const config = parseConfig(lines.join('\n'), 'bench.yaml', {});
    const dispatcher = createTasksDispatcher(
      {
        config,
        clock: systemClock,
        logger: createLogger(() => undefined),
        env: { CLOUD_TASKS_EMULATOR_HOST: server.address },
        auth: { headersFor: async () => ({}) },
        random: Math.random,
      },
      { concurrency: limit },
    );
    const targets = (round) =>
      config.collectors.map((c) => ({
        name: c.name,
        url: c.url,
        payload: {
          executionId: `20261122T1400${String(round).padStart(2, '0')}Z-bench000`,
          collector: c.name,
          scheduledTime: new Date(Date.UTC(2026, 10, 22, 14, 0, round)).toISOString(),
          attempt: 1,
        },
        timeoutMs: c.timeoutSeconds * 1000,
        retry: c.retry,
        group: c.group,
        groupWaitMs: 0,
        queue: config.scheduler.tasks.queue,
      }));
    const signal = new AbortController().signal;
    // Warm-up: client, channel, JIT.
    const warm = await dispatcher.dispatch(targets(99), { signal });
    if (warm.some((o) => o.status !== 'scheduled'))
      throw new Error(warm.find((o) => o.status !== 'scheduled').error);

    const ideal = (collectors * delayMs) / limit;
    // Built beforehand, so only the dispatch is timed.
    const batches = Array.from({ length: rounds }, (_, r) => targets(r));
    const { best, median } = await timeRounds(rounds, async (r) => {
      const outcomes = await dispatcher.dispatch(batches[r], { signal });
      const scheduled = outcomes.filter((o) => o.status === 'scheduled').length;
      if (scheduled !== collectors) throw new Error(`only ${scheduled} of ${collectors} scheduled`);
    });
    await closeTasksClients();
    return {
      collectors,
      concurrency: limit,
      delayMs,
      idealMs: ideal,
      wallMs: Math.round(best.wall),
      medianWallMs: Math.round(median),
      ratio: +(best.wall / ideal).toFixed(3),
      medianRatio: +(median / ideal).toFixed(3),
      cpuMsPerTask: +(best.cpuMs / collectors).toFixed(4),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same CreateTask calls with a bare grpc-js client: the floor this machine sets. */
async function bareGrpc({ collectors = 1000, delayMs = 5, concurrency, rounds = 5, server } = {}) {
  const { grpc } = require('google-gax');
  const protoLoader = require('@grpc/proto-loader');
  const file = path.join(require.resolve('@google-cloud/tasks'), '../../../protos/protos.json');
  const definition = protoLoader.fromJSON(JSON.parse(fs.readFileSync(file, 'utf8')), {
    longs: String,
    enums: String,
    oneofs: true,
  });
  const CloudTasks = grpc.loadPackageDefinition(definition).google.cloud.tasks.v2.CloudTasks;
  const client = new CloudTasks(server.address, grpc.credentials.createInsecure());
  const parent = 'projects/bench/locations/europe-west1/queues/collectors';
  const body = Buffer.from(
    JSON.stringify({
      executionId: 'x',
      collector: 'c',
      scheduledTime: new Date().toISOString(),
      attempt: 1,
    }),
  );
  const one = (round, i) =>
    new Promise((resolve, reject) =>
      client.createTask(
        {
          parent,
          task: {
            name: `${parent}/tasks/r${round}-c${i}`,
            httpRequest: {
              url: `https://europe-west1-bench.cloudfunctions.net/c${i}`,
              httpMethod: 'POST',
              headers: { 'Content-Type': 'application/json' },
              body,
              oidcToken: { serviceAccountEmail: 's@bench.iam.gserviceaccount.com', audience: 'https://x' },
            },
            dispatchDeadline: { seconds: 300 },
          },
        },
        { deadline: Date.now() + 10_000 },
        (error, task) => (error ? reject(error) : resolve(task)),
      ),
    );
  const run = async (round) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < collectors) await one(round, next++);
      }),
    );
  };
  try {
    await run(99);
    const { best } = await timeRounds(rounds, run);
    return {
      wallMs: Math.round(best.wall),
      ratio: +(best.wall / ((collectors * delayMs) / concurrency)).toFixed(3),
      cpuMsPerCall: +(best.cpuMs / collectors).toFixed(4),
    };
  } finally {
    client.close();
  }
}

module.exports = { main, tasks: bench, bareGrpc, startServer };
