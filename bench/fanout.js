'use strict';
// Fan-out benchmark (issue 2): 5,000 loopback collectors answering after 20 ms, concurrency 200.
// Reports wall time ÷ ideal (ceil(5000/200) × 20 ms), CPU ms per dispatch and peak RSS.
const { fork } = require('node:child_process');
const path = require('node:path');
const { once } = require('node:events');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { timeRounds } = require('./measure');

const dist = path.resolve(__dirname, '../dist/src');
const { parseConfig } = require(`${dist}/config/load.js`);
const { createServices } = require(`${dist}/create-services.js`);
const { execute } = require(`${dist}/execution/execute.js`);
const { makeTrigger } = require(`${dist}/execution/trigger.js`);
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
    const rssAfterConfigMb = Math.round(process.memoryUsage().rss / 1048576);
    const services = await createServices(config, { logger: createLogger(() => undefined) });
    const trigger = makeTrigger('cli');
    // Warm-up: connections, JIT.
    await execute(services, trigger);
    const ideal = Math.ceil(collectors / concurrency) * delayMs;
    const { best, median } = await timeRounds(rounds, async () => {
      const { report } = await execute(services, trigger);
      if (report.summary.succeeded !== collectors)
        throw new Error(`only ${report.summary.succeeded} of ${collectors} succeeded`);
    });
    await services.close();
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
      // The 5,000-collector YAML alone (parsed with source positions) accounts for this much.
      rssAfterConfigMb,
    };
  } finally {
    farm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The same fan-out with bare node:http (keep-alive agent, 200 workers, no scheduler), measured in the
 * same run: what this machine can do at all, so the scheduler's own overhead can be read off.
 */
async function bareFanout({ collectors = 5000, concurrency = 200, delayMs = 20, rounds = 3 } = {}) {
  const http = require('node:http');
  const farm = await startFarm(delayMs);
  const url = new URL(farm.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const body = JSON.stringify({
    executionId: 'x',
    collector: 'c',
    scheduledTime: new Date().toISOString(),
    attempt: 1,
  });
  const one = (i) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: `/collectors/c${i}`,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const run = async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < collectors) await one(next++);
      }),
    );
  };
  try {
    await run();
    const { best } = await timeRounds(rounds, run);
    return {
      wallMs: Math.round(best.wall),
      ratio: +(best.wall / (Math.ceil(collectors / concurrency) * delayMs)).toFixed(3),
      cpuMsPerRequest: +(best.cpuMs / collectors).toFixed(4),
    };
  } finally {
    agent.destroy();
    farm.stop();
  }
}

module.exports = { fanout, bareFanout };

if (require.main === module) {
  (async () => {
    const scheduler = await fanout();
    const bare = await bareFanout();
    console.log(
      JSON.stringify(
        { scheduler, bareNodeHttp: bare, overheadRatio: +(scheduler.wallMs / bare.wallMs).toFixed(3) },
        null,
        2,
      ),
    );
  })();
}
