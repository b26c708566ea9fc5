'use strict';
// Sharded collector benchmark (issue 15): PLU over 35,000 communes, `shards: true`, tasks mode, against
// the tests' loopback Cloud Tasks server (tests/support/tasks-server/, in a child process so its CPU
// and memory are not ours; it answers each gRPC call after ANSWER_DELAY_MS, so calls overlap and the
// most in flight at the server measures the creation concurrency; its queue is paused: nothing runs).
//  1. The execution (POST /run): lists the shards, writes the shard index, creates one fan-out task.
//  2. The fan-out task's delivery (POST /collectors/plu with its body, as Cloud Tasks sends it): ONE
//     function call creating the 35,000 shards' tasks. Wall time, CreateTask calls and the most in
//     flight at the server, RSS and heap before and after (and the peak sampled meanwhile).
//  3. The shards then end (their run records and index entries written, as each shard's delivery
//     would), and `GET /status` of that execution is timed, with the state store's reads counted.
const { fork } = require('node:child_process');
const { once } = require('node:events');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');

const SHARDS = 35_000;
const ANSWER_DELAY_MS = 20;
const STATUS_ROUNDS = 3;
const PROJECT = 'bench-project';

if (process.argv[2] === 'server') serve();

/** The child: a TasksServer with a paused queue; answers `stats` and `fanOut` over IPC. */
function serve() {
  const { startTasksServer } = require('../tests/support/tasks-server/index.ts');
  startTasksServer({ project: PROJECT, answerDelayMs: ANSWER_DELAY_MS }).then((server) => {
    server.createQueue('collectors', { paused: true });
    process.on('message', (m) => {
      if (m === 'stats') {
        const creates = server.requests.filter((r) => r.method === 'CreateTask');
        process.send({
          createTasks: creates.length,
          failedCreates: creates.filter((r) => r.code !== 0).length,
          maxCallsInFlight: server.maxCallsInFlight,
        });
      } else if (m === 'fanOut') {
        const task = server.tasks.find((t) => JSON.parse(t.task.httpRequest.body.toString()).fanOut);
        process.send({ id: task.id, body: task.task.httpRequest.body.toString() });
      }
    });
    process.send({ address: server.address });
  });
  process.on('disconnect', () => process.exit(0));
}

const ask = (child, message) => {
  const reply = once(child, 'message').then(([m]) => m);
  child.send(message);
  return reply;
};

/** INSEE commune codes: département + three digits (01001, 01002, ... 2A001 ...). */
function communes(count) {
  const deps = [];
  for (let d = 1; d <= 95; d++) deps.push(d === 20 ? '2A' : String(d).padStart(2, '0'));
  const codes = [];
  for (let n = 1; codes.length < count; n++)
    for (const d of deps) codes.push(`${d}${String(n).padStart(3, '0')}`);
  return codes.slice(0, count);
}

function counting(store, counter) {
  const wrap = (s) =>
    new Proxy(s, {
      get(target, prop) {
        const value = target[prop];
        if (typeof value !== 'function') return value;
        if (prop === 'scope') return (...args) => wrap(value.apply(target, args));
        return (...args) => {
          if (counter[prop] !== undefined) counter[prop]++;
          return value.apply(target, args);
        };
      },
    });
  return wrap(store);
}

const gc = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
})();
const memory = () => {
  gc();
  const m = process.memoryUsage();
  return { rssMb: Math.round(m.rss / 1048576), heapMb: Math.round(m.heapUsed / 1048576) };
};

async function main() {
  const root = path.resolve(__dirname, '..');
  const dist = path.join(root, 'dist/src');
  const { loadConfig } = require(`${dist}/config/load.js`);
  const { createServices } = require(`${dist}/create-services.js`);
  const { createApp } = require(`${dist}/http/app.js`);
  const { close, createNodeServer, listen } = require(`${dist}/http/node-server.js`);
  const { CollectorRegistry } = require(`${dist}/runtime/registry.js`);
  const { openStore } = require(`${dist}/store/open.js`);
  const { runRecordKey } = require(`${dist}/runtime/run-records.js`);
  const { ShardIndex } = require(`${dist}/shards/shard-index.js`);
  const { createLogger } = require(`${dist}/util/log.js`);
  const { builtinCollectors } = require(path.join(root, 'dist/collectors/index.js'));
  const pLimit = require('p-limit').default;

  const env = { ...process.env, GOOGLE_CLOUD_PROJECT: PROJECT, METADATA_SERVER_DETECTION: 'none' };
  const child = fork(path.join(__dirname, 'shards.js'), ['server'], {
    execArgv: ['-r', path.join(__dirname, 'ts-register.js')],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [{ address }] = await once(child, 'message');
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-shards-'));
  let services = null;
  const server = createNodeServer(createApp(async () => services));
  const url = await listen(server);
  try {
    const codes = communes(SHARDS);
    const configFile = path.join(dir, 'config.yaml');
    writeFileSync(
      configFile,
      [
        `storage: { reports: ${dir}/reports, raw: ${dir}/raw, state: ${dir}/state }`,
        'scheduler:',
        '  mode: tasks',
        '  auth: { type: none }',
        `  tasks: { project: ${PROJECT}, location: us-central1, queue: collectors, service_account_email: s@${PROJECT}.iam.gserviceaccount.com, max_attempts: 3 }`,
        'collectors:',
        `  plu: { shards: true, url: "${url}/collectors/plu", options: { communes: [${codes.map((c) => `"${c}"`).join(', ')}] } }`,
      ].join('\n'),
    );
    const registry = new CollectorRegistry(builtinCollectors());
    const config = await loadConfig(configFile, env, { collectors: registry.all() });
    const reads = { get: 0, list: 0, put: 0 };
    services = await createServices(config, {
      env: { ...env, CLOUD_TASKS_EMULATOR_HOST: address },
      registry,
      logger: createLogger(() => undefined),
      openStore: async (uri) => {
        const store = await openStore(uri);
        return uri.endsWith('/state') ? counting(store, reads) : store;
      },
    });
    const post = async (pathname, body, headers = {}) => {
      const response = await fetch(`${url}${pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      return { status: response.status, body: await response.json() };
    };

    // 1. The execution: list, index, one fan-out task.
    let t0 = performance.now();
    const run = await post('/run', '{}');
    const executionMs = performance.now() - t0;
    const executionId = run.body.execution_id;
    if (run.body.collectors?.plu?.status !== 'scheduled')
      throw new Error(`execution: ${JSON.stringify(run.body.collectors?.plu)}`);

    // 2. The fan-out task's delivery: one function call creating every shard's task.
    const fanOut = await ask(child, 'fanOut');
    const before = memory();
    let peakRss = 0;
    let peakHeap = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 25);
    t0 = performance.now();
    const delivered = await post('/collectors/plu', fanOut.body, {
      'x-cloudtasks-taskname': fanOut.id,
      'x-cloudtasks-queuename': 'collectors',
      'x-cloudtasks-taskretrycount': '0',
    });
    const fanOutMs = performance.now() - t0;
    clearInterval(sampler);
    const after = memory();
    const server1 = await ask(child, 'stats');
    if (delivered.status !== 200)
      throw new Error(`fan-out: ${delivered.status} ${JSON.stringify(delivered.body)}`);
    if (server1.createTasks !== SHARDS + 1 || server1.failedCreates > 0)
      throw new Error(
        `fan-out created ${server1.createTasks - 1} of ${SHARDS} tasks (${server1.failedCreates} failed)`,
      );

    // 3. The shards end (what each shard's delivery writes: its run record, its index entry), then
    //    the status of that execution.
    const state = await openStore(config.storage.state);
    const index = new ShardIndex(
      state,
      executionId,
      'plu',
      createLogger(() => undefined),
    );
    const limit = pLimit(64);
    const scheduledTime = run.body.trigger.scheduled_time;
    await Promise.all(
      codes.map((code, i) =>
        limit(() =>
          state.put(
            runRecordKey(executionId, 'plu', code),
            JSON.stringify({
              executionId,
              collector: 'plu',
              shard: code,
              scheduledTime,
              attempt: 1,
              status: i % 500 === 0 ? 'failed' : 'success',
              result: { records: 3 },
            }),
            { contentType: 'application/json' },
          ),
        ),
      ),
    );
    await index.markMany(
      new Map(
        codes.map((code, i) => [
          code,
          i % 500 === 0
            ? { s: 'failed', a: 3, e: `commune ${code}: 404`, t: 'HTTPError' }
            : { s: 'success', a: 1 },
        ]),
      ),
    );
    const walls = [];
    let status = null;
    for (let r = 0; r < STATUS_ROUNDS; r++) {
      for (const k of Object.keys(reads)) reads[k] = 0;
      t0 = performance.now();
      const response = await fetch(`${url}/status`);
      status = await response.json();
      walls.push(performance.now() - t0);
    }
    const shards = status.collectors.plu.shards;
    if (
      status.execution_id !== executionId ||
      shards.total !== SHARDS ||
      shards.done + shards.failed !== SHARDS
    )
      throw new Error(`status: ${JSON.stringify(shards)}`);
    const sorted = [...walls].sort((a, b) => a - b);
    return {
      shards: SHARDS,
      serverAnswerDelayMs: ANSWER_DELAY_MS,
      executionMs: Math.round(executionMs),
      fanOutCall: {
        wallMs: Math.round(fanOutMs),
        createTaskCalls: server1.createTasks - 1,
        maxCreateTaskInFlightAtServer: server1.maxCallsInFlight,
        idealMs: Math.ceil(SHARDS / 100) * ANSWER_DELAY_MS,
        before,
        after,
        peakDuringMb: { rss: Math.round(peakRss / 1048576), heap: Math.round(peakHeap / 1048576) },
        goal: '≤ 60 s, ≤ 100 in flight, flat memory',
      },
      status: {
        bestMs: Math.round(sorted[0]),
        medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]),
        stateReads: { get: reads.get, list: reads.list },
        shardsShown: { total: shards.total, done: shards.done, failed: shards.failed },
        goal: '≤ 2 s, no listing, no shard record read',
      },
    };
  } finally {
    await services?.close();
    await close(server);
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { main };

if (require.main === module && process.argv[2] !== 'server') {
  main().then((r) => console.log(JSON.stringify(r, null, 2)));
}
