'use strict';
// History benchmark (issue 13): a year of 5-minute ticks (105,120 executions) in the history index on
// the filesystem store, and the queries `scheduler history`, `GET /reports` and the planner make, timed
// and counted in objects read. Side by side, on the last 30 days (8,640 reports written as report
// files): the same collector query answered by listing and reading every report, as the planner did
// before the index. Object counts are what matters on Cloud Storage, where each read is a request.
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');
const { timeRounds } = require('./measure');

const dist = path.resolve(__dirname, '../dist/src');
const { FsObjectStore } = require(path.join(dist, 'store/fs-store.js'));
const { HistoryIndex } = require(path.join(dist, 'history/history-index.js'));
const { historyEntry } = require(path.join(dist, 'history/entry.js'));
const { readJson } = require(path.join(dist, 'store/types.js'));
const { silentLogger } = require(path.join(dist, 'util/log.js'));

const TICK_MS = 5 * 60_000;
const DAY_MS = 86_400_000;
const END = Date.UTC(2026, 10, 22, 12, 0); // "now": 22 November 2026, noon
const START = END - 365 * DAY_MS;

/** The report of the tick at `t`: xmp every tick, dvf daily at 04:00, insee-contours on Mondays at 03:00. */
function report(t, n) {
  const d = new Date(t);
  const stamp = d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const collectors = { xmp: run(t, 2 + (n % 7), n % 50 === 0 ? 'failed' : 'success') };
  if (d.getUTCHours() === 4 && d.getUTCMinutes() === 0) collectors.dvf = run(t, 300 + (n % 60), 'success');
  if (d.getUTCDay() === 1 && d.getUTCHours() === 3 && d.getUTCMinutes() === 0)
    collectors['insee-contours'] = run(t, 120, 'success');
  const all = Object.values(collectors);
  return {
    schema_version: 2,
    execution_id: `${stamp}-${n.toString(16).padStart(8, '0')}`,
    start_time: d.toISOString(),
    end_time: new Date(t + 30_000).toISOString(),
    duration_seconds: 30,
    trigger: {
      source: 'cloud-scheduler',
      kind: 'tick',
      scheduled_time: d.toISOString(),
      job_name: 'j',
      forced: false,
    },
    mode: 'http',
    collectors,
    summary: {
      total: all.length,
      succeeded: all.filter((c) => c.status === 'success').length,
      failed: all.filter((c) => c.status === 'failed').length,
      skipped: 0,
      scheduled: 0,
      running: 0,
    },
    warnings: [],
  };
}

function run(t, seconds, status) {
  return {
    status,
    http_status: status === 'success' ? 200 : 503,
    error: status === 'failed' ? 'Request failed with status code 503' : null,
    error_type: status === 'failed' ? 'HTTPError' : null,
    start_time: new Date(t).toISOString(),
    end_time: new Date(t + seconds * 1000).toISOString(),
    duration_seconds: seconds,
    result: status === 'success' ? { records: 100 } : null,
    attempts: status === 'failed' ? 3 : 1,
  };
}

/** A store that counts the objects it reads. */
function counting(store) {
  const counter = { gets: 0 };
  const wrapped = Object.create(store);
  wrapped.get = (key) => {
    counter.gets++;
    return store.get(key);
  };
  wrapped.list = (prefix) => store.list(prefix);
  return { store: wrapped, counter };
}

/** The pre-index way: list every report of the window and read each one. */
async function byListing(store, fromMs, toMs, collector) {
  const out = [];
  for (let t = fromMs - (fromMs % DAY_MS); t < toMs; t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10).replace(/-/g, '/');
    const keys = [];
    for await (const info of store.list(`${day}/`)) keys.push(info.key);
    for (const key of keys.sort().reverse()) {
      const found = await readJson(store, key);
      if (found && collector in found.value.collectors) out.push(found.value);
    }
  }
  return out;
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-history-'));
  try {
    const store = new FsObjectStore(dir, dir);
    const entries = [];
    const recent = [];
    for (let t = START, n = 0; t < END; t += TICK_MS, n++) {
      const r = report(t, n);
      entries.push(historyEntry(r));
      if (t >= END - 30 * DAY_MS) recent.push(r);
    }
    const index = new HistoryIndex(store, silentLogger, () => END);
    const built0 = performance.now();
    const built = await index.rebuild(entries);
    const buildMs = performance.now() - built0;
    // The last 30 days as report files too, for the listing baseline.
    for (const r of recent)
      await store.put(
        `${r.start_time.slice(0, 10).replace(/-/g, '/')}/${r.execution_id}.json`,
        JSON.stringify(r),
      );

    const queries = {
      latest50: { limit: 50 },
      weeklyCollector20: { collector: 'insee-contours', limit: 20 },
      dailyCollector90Days: { collector: 'dvf', sinceMs: END - 90 * DAY_MS, limit: 1000 },
      planner14Days: { sinceMs: END - 14 * DAY_MS, limit: 14 * 1440 },
      wholeYearOfOneCollector: { collector: 'dvf', limit: 1000 },
    };
    const results = {};
    for (const [name, query] of Object.entries(queries)) {
      const { store: s, counter } = counting(store);
      const q = new HistoryIndex(s, silentLogger, () => END);
      let page;
      const timing = await timeRounds(5, async () => {
        counter.gets = 0;
        page = await q.query(query);
      });
      results[name] = {
        bestMs: +timing.best.wall.toFixed(1),
        medianMs: +timing.median.toFixed(1),
        executions: page.entries.length,
        objectsRead: counter.gets,
      };
    }

    // Side by side: insee-contours over the last 30 days, from the index and by listing the reports.
    const since = END - 30 * DAY_MS;
    const { store: si, counter: ci } = counting(store);
    const viaIndex = await timeRounds(3, async () => {
      ci.gets = 0;
      await new HistoryIndex(si, silentLogger, () => END).query({
        collector: 'insee-contours',
        sinceMs: since,
        limit: 1000,
      });
    });
    const indexReads = ci.gets;
    const { store: sl, counter: cl } = counting(store);
    let found = [];
    const viaListing = await timeRounds(3, async () => {
      cl.gets = 0;
      found = await byListing(sl, since, END, 'insee-contours');
    });
    return {
      setup: {
        executions: entries.length,
        indexDays: built.days,
        indexBuildMs: +buildMs.toFixed(0),
      },
      queries: results,
      last30DaysOfOneCollector: {
        index: { bestMs: +viaIndex.best.wall.toFixed(1), objectsRead: indexReads },
        listingReports: {
          bestMs: +viaListing.best.wall.toFixed(1),
          objectsRead: cl.gets,
          executions: found.length,
        },
        listingOverIndex: +(viaListing.best.wall / viaIndex.best.wall).toFixed(1),
        aYearByListingWouldRead: entries.length,
      },
      goal: 'every query from the index under 1 s and a few dozen objects, with a year of 5-minute ticks',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) main().then((r) => console.log(JSON.stringify(r, null, 2)));
module.exports = { main };
