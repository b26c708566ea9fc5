'use strict';
// `scheduler plan` as a user runs it, whole process: CPU (user + system, from the process itself at
// exit) for configs that used to stall the planner (issue 11: a group member on */5 with a 600 s
// timeout never finished; */15 took 49 s), beside a trivial config measured in the same run.
const { spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const ROUNDS = 5;

const CONFIGS = {
  trivial: `
  a: { url: "http://127.0.0.1:1/a", schedule: "0 3 * * *" }`,
  'member on */5, 600 s': `
  realtime: { url: "http://127.0.0.1:1/a", schedule: "*/5 * * * *", group: g, timeout_seconds: 600 }
  daily: { url: "http://127.0.0.1:1/b", schedule: "5 1 * * *", group: g }`,
  'member on */15, 600 s': `
  frequent: { url: "http://127.0.0.1:1/a", schedule: "*/15 * * * *", group: g, timeout_seconds: 600 }
  daily: { url: "http://127.0.0.1:1/b", schedule: "5 1 * * *", group: g }`,
  '*/15 with 6-hourly and daily members': `
  realtime: { url: "http://127.0.0.1:1/a", schedule: "*/15 * * * *", group: g, timeout_seconds: 600 }
  six-hourly: { url: "http://127.0.0.1:1/b", schedule: "0 2-23/6 * * *", group: g, timeout_seconds: 900 }
  daily: { url: "http://127.0.0.1:1/b", schedule: "0 2 * * *", group: g, timeout_seconds: 1200 }`,
  'seven members, per-minute included': `
  a: { url: "http://127.0.0.1:1/a", schedule: "0-29 */2 * * *", group: g, timeout_seconds: 60 }
  b: { url: "http://127.0.0.1:1/a", schedule: "* * * * *", group: g, timeout_seconds: 30 }
  c: { url: "http://127.0.0.1:1/a", schedule: "7,19,33 * * * 1-5", group: g, timeout_seconds: 120 }
  d: { url: "http://127.0.0.1:1/a", schedule: "5 1 * * *", group: g, timeout_seconds: 600 }
  e: { url: "http://127.0.0.1:1/a", schedule: "*/5 * * * *", group: h, timeout_seconds: 600 }
  f: { url: "http://127.0.0.1:1/a", schedule: "*/15 * * * *", group: h, timeout_seconds: 300 }
  g: { url: "http://127.0.0.1:1/a", schedule: "0 3 * * *", group: h, timeout_seconds: 300 }`,
};

/** One `scheduler plan` process; its own CPU at exit, start-up included. */
function planCpuMs(configFile, args) {
  const script = `
    const { main } = require(${JSON.stringify(path.join(root, 'dist/src/cli/main.js'))});
    const io = { stdout: () => {}, stderr: () => {}, env: {}, cwd: ${JSON.stringify(root)} };
    main(['plan', '--config', ${JSON.stringify(configFile)}, ...${JSON.stringify(args)}], io).then((code) => {
      const u = process.cpuUsage();
      process.stdout.write(JSON.stringify({ code, cpuMs: (u.user + u.system) / 1000 }));
    });`;
  const result = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`plan failed: ${result.stderr}`);
  return JSON.parse(result.stdout).cpuMs;
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-plan-'));
  try {
    const files = Object.fromEntries(
      Object.entries(CONFIGS).map(([name, collectors], i) => {
        const file = path.join(dir, `c${i}.yaml`);
        writeFileSync(
          file,
          `timezone: Europe/Paris\nstorage: { reports: ${dir}/r${i}, raw: ${dir}/raw${i} }\ncollectors:${collectors}\n`,
        );
        return [name, file];
      }),
    );
    const results = {};
    for (const [label, args] of [
      ['plan', []],
      ['plan --hours 744', ['--hours', '744']],
    ]) {
      const best = {};
      // Rounds interleave the configs, so each ratio compares processes run side by side.
      for (let r = 0; r < ROUNDS; r++) {
        for (const [name, file] of Object.entries(files)) {
          const cpuMs = planCpuMs(file, args);
          best[name] = Math.min(best[name] ?? Infinity, cpuMs);
        }
      }
      results[label] = Object.fromEntries(
        Object.entries(best).map(([name, cpuMs]) => [
          name,
          { cpuMs: Math.round(cpuMs), overTrivial: +(cpuMs / best.trivial).toFixed(2) },
        ]),
      );
    }
    return { ...results, goal: 'every config < 1000 ms CPU for the whole process' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { main };
if (require.main === module) {
  main().then((r) => console.log(JSON.stringify(r, null, 2)));
}
