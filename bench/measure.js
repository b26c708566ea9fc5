'use strict';
// How every benchmark here times its rounds (after its own warm-up): wall and CPU per round; the best
// round is the one least disturbed by a shared machine, and the median is printed beside it.

/** Runs `runRound(r)` `count` times; returns the best round ({ wall, cpuMs }) and the median wall time. */
async function timeRounds(count, runRound) {
  const results = [];
  for (let r = 0; r < count; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await runRound(r);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    results.push({ wall, cpuMs: (cpu.user + cpu.system) / 1000 });
  }
  const best = results.reduce((a, b) => (a.wall <= b.wall ? a : b));
  const median = results.map((r) => r.wall).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  return { best, median };
}

module.exports = { timeRounds };
