'use strict';
// `npm run bench`: every benchmark, one after another, in one process run so that ratios are measured
// side by side on the same (shared, noisy) machine. Prints one JSON document.
const { fanout, bareFanout } = require('./fanout');
const { coldstart } = require('./coldstart');

const tasks = require('./tasks');
const tokens = require('./tokens');
const streams = require('./streams');
const history = require('./history');
const plan = require('./plan');
const callers = require('./callers');
const schedule = require('./schedule');
const scale = require('./scale');
const shards = require('./shards');

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
  results.tasks = await tasks.main();
  results.tokens = await tokens.main();
  results.streams = await streams.main();
  results.history = await history.main();
  results.plan = await plan.main();
  results.callers = await callers.main();
  results.schedule = await schedule.main();
  results.scale = await scale.main();
  results.shards = await shards.main();
  console.log(JSON.stringify(results, null, 2));
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
