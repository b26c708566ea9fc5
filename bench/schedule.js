'use strict';
// Scheduling-policies benchmark (issue 14): what pauses, catch-up (watermarks, run claims) and the
// overlap lease cost an execution. 50 collectors served by the scheduler's own loopback routes, on the
// filesystem store, one execution per round, side by side:
//  - tick, defaults: a tick of every collector (pause reads, a claim per run, catch-up looks, watermarks,
//    the run lease of overlap skip at each collector route);
//  - tick, lean: the same tick with catchup_window 0 and overlap allow (claims and pause reads remain);
//  - manual, lean: a manual trigger (no claims, no watermarks) with overlap allow: the floor.
// State-store calls per execution are counted (each is a request on Cloud Storage).
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');
const { timeRounds } = require('./measure');

const dist = path.resolve(__dirname, '../dist/src');
const { parseConfig } = require(`${dist}/config/load.js`);
const { createServices } = require(`${dist}/create-services.js`);
const { execute } = require(`${dist}/execution/execute.js`);
const { makeTrigger } = require(`${dist}/execution/trigger.js`);
const { CollectorRegistry } = require(`${dist}/runtime/registry.js`);
const { openStore } = require(`${dist}/store/open.js`);
const { createLogger } = require(`${dist}/util/log.js`);

const COLLECTORS = 50;
const ROUNDS = 5;
const FIVE_MIN = 5 * 60_000;
const START = Date.UTC(2026, 10, 22, 12, 0);

/** A clock the benchmark moves from tick to tick (real timers otherwise). */
function steppedClock() {
  let offset = 0;
  return {
    now: () => START + offset,
    sleep: (ms, signal) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(resolve, ms);
        signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
      }),
    schedule: (ms, fn) => {
      const t = setTimeout(fn, ms);
      t.unref();
      return () => clearTimeout(t);
    },
    step: (ms) => (offset += ms),
  };
}

/** Counts every call on the state store. */
function counting(store, counter) {
  const wrap = (s) =>
    new Proxy(s, {
      get(target, prop) {
        const value = target[prop];
        if (typeof value !== 'function') return value;
        if (prop === 'scope') return (...args) => wrap(value.apply(target, args));
        return (...args) => {
          if (['get', 'put', 'list', 'delete', 'putStream'].includes(prop)) counter.calls++;
          return value.apply(target, args);
        };
      },
    });
  return wrap(store);
}

async function scenario(name, collectorSettings, triggerFor) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-schedule-'));
  const names = Array.from({ length: COLLECTORS }, (_, i) => `c${i}`);
  const yaml = [
    `storage: { reports: ${dir}/reports, raw: ${dir}/raw, state: ${dir}/state }`,
    'scheduler: { max_concurrent_collectors: 10, deadline_seconds: 600 }',
    'collectors:',
    ...names.map((n) => `  ${n}: { schedule: "*/5 * * * *"${collectorSettings} }`),
  ].join('\n');
  const registry = new CollectorRegistry(
    names.map((n) => ({
      name: n,
      description: n,
      parseOptions: (o) => o,
      run: async () => ({ records: 1 }),
    })),
  );
  const counter = { calls: 0 };
  const clock = steppedClock();
  const services = await createServices(parseConfig(yaml, 'bench.yaml', {}), {
    registry,
    clock,
    logger: createLogger(() => undefined),
    openStore: async (uri) => {
      const store = await openStore(uri);
      return uri.endsWith('/state') ? counting(store, counter) : store;
    },
  });
  try {
    let tick = 0;
    const runOnce = async () => {
      clock.step(FIVE_MIN);
      const { report } = await execute(services, triggerFor(START + ++tick * FIVE_MIN));
      if (report.summary.succeeded !== COLLECTORS)
        throw new Error(`${name}: ${report.summary.succeeded} of ${COLLECTORS} succeeded`);
    };
    await runOnce(); // warm-up: connections, JIT, the first watermarks
    counter.calls = 0;
    const { best, median } = await timeRounds(ROUNDS, runOnce);
    return {
      wallMs: Math.round(best.wall),
      medianWallMs: Math.round(median),
      cpuMs: Math.round(best.cpuMs),
      stateCallsPerExecution: Math.round(counter.calls / ROUNDS),
    };
  } finally {
    await services.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const tick = (t) => makeTrigger('cli', { tickMs: t - (t % 60_000) });
  const manual = () => makeTrigger('cli');
  const defaults = await scenario('tick, defaults', '', tick);
  const lean = await scenario('tick, lean', ', catchup_window: 0, overlap: allow', tick);
  const floor = await scenario('manual, lean', ', catchup_window: 0, overlap: allow', manual);
  return {
    collectors: COLLECTORS,
    store: 'fs',
    tickDefaults: defaults,
    tickLean: lean,
    manualLean: floor,
    defaultsOverFloor: +(defaults.wallMs / floor.wallMs).toFixed(2),
    leanTickOverFloor: +(lean.wallMs / floor.wallMs).toFixed(2),
  };
}

module.exports = { main };

if (require.main === module) {
  main().then((r) => console.log(JSON.stringify(r, null, 2)));
}
