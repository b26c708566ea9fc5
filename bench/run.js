'use strict';
// `npm run bench`: every benchmark, one after another, in one process run so that ratios are measured
// side by side on the same (shared, noisy) machine. Prints one JSON document.
const { fanout, bareFanout } = require('./fanout');
const { coldstart } = require('./coldstart');

const optional = (file) => {
  try {
    return require(file);
  } catch (error) {
    if (error.code === 'MODULE_NOT_FOUND' && String(error.message).includes(file.slice(2))) return null;
    throw error;
  }
};

(async () => {
  const results = {};
  const fan = await fanout();
  const bare = await bareFanout();
  results.fanout = {
    scheduler: fan,
    bareNodeHttp: bare,
    schedulerOverBare: +(fan.wallMs / bare.wallMs).toFixed(3),
    goal: 'ratio ≤ 1.10, ≤ 0.2 ms CPU per dispatch, peak RSS ≤ 150 MB',
  };
  results.coldstart = { ...(await coldstart()), goal: 'ratio ≤ 1.25' };
  const tasks = optional('./tasks');
  if (tasks) results.tasks = await tasks.main();
  const tokens = optional('./tokens');
  if (tokens) results.tokens = await tokens.main();
  console.log(JSON.stringify(results, null, 2));
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
