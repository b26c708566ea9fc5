'use strict';
// Fan-out benchmark (issue 2): 5,000 loopback collectors answering after 20 ms, concurrency 200.
// Reports wall time ÷ ideal (ceil(5000/200) × 20 ms), CPU ms per dispatch and peak RSS.
const { fork } = require('node:child_process');
const path = require('node:path');
const { once } = require('node:events');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');

const dist = path.resolve(__dirname, '../dist/src');
const { parseConfig } = require(`${dist}/config/load.js`);
const { createServices } = require(`${dist}/services.js`);
const { execute } = require(`${dist}/execution/execute.js`);
const { createLogger } = require(`${dist}/util/log.js`);

async function startFarm(delayMs) {
  const child = fork(path.join(__dirname, 'collector-farm.js'), [], {
    env: { ...process.env, DELAY_MS: String(delayMs) },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const [chunk] = await once(child.stdout, 'data');
  return { url: chunk.toString().trim(), stop: () => child.kill() };
}

async function fanout({ collectors = 5000, concurrency = 200, delayMs = 20, rounds = 3 } = {}) {
  const farm = await startFarm(delayMs);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-'));
  try {
    const lines = [
      `storage: { reports: ${dir}/reports, raw: ${dir}/raw, state: ${dir}/state }`,
      `scheduler: { max_concurrent_collectors: ${concurrency}, deadline_seconds: 600, auth: { type: none } }`,
      'collectors:',
    ];
    for (let i = 0; i < collectors; i++) lines.push(`  c${i}: { url: "${farm.url}/collectors/c${i}" }`);
    const config = parseConfig(lines.join('\n'), 'bench.yaml', {});
    const services = await createServices(config, { logger: createLogger(() => undefined) });
    const trigger = {
      source: 'cli',
      tickMs: null,
      jobName: null,
      collectors: null,
      mode: null,
      dryRun: false,
      force: false,
    };
    // Warm-up: connections, JIT.
    await execute(services, trigger);
    const ideal = Math.ceil(collectors / concurrency) * delayMs;
    const results = [];
    for (let r = 0; r < rounds; r++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const { report } = await execute(services, trigger);
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (report.summary.succeeded !== collectors)
        throw new Error(`only ${report.summary.succeeded} of ${collectors} succeeded`);
      results.push({ wall, cpuMs: (cpu.user + cpu.system) / 1000 });
    }
    await services.close();
    const best = results.reduce((a, b) => (a.wall <= b.wall ? a : b));
    const median = results.map((r) => r.wall).sort((a, b) => a - b)[Math.floor(results.length / 2)];
    return {
      collectors,
      concurrency,
      delayMs,
      idealMs: ideal,
      wallMs: Math.round(best.wall),
      medianWallMs: Math.round(median),
      ratio: +(best.wall / ideal).toFixed(3),
      medianRatio: +(median / ideal).toFixed(3),
      cpuMsPerDispatch: +(best.cpuMs / collectors).toFixed(4),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    farm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { fanout };

if (require.main === module) {
  fanout().then((r) => console.log(JSON.stringify(r, null, 2)));
}
