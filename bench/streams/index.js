'use strict';
// Streaming benchmark (issue 12): the SIRENE stock zip and a geo-dvf full.csv.gz streamed into the local
// store by `scheduler collect <name>`, each in its own process as a user runs it, against a plain
// HTTP-to-disk copy of the same bytes (bench/streams/http-copy.js) in the same run, alternating (and,
// for scale, the same copy hashing the bytes with MD5, as the store must for the manifest). For
// each of 100 MB and 1 GB: whole-process wall time, throughput ÷ the copy's, and peak RSS; then the
// peak RSS at 1 GB minus at 100 MB (flat memory means the file size does not show).
// DVF is measured twice: counting the rows (the default; it inflates the whole file) and checking the
// header only (`count_rows: false`). Counting is also set beside the plain copy inflating and counting
// the same bytes (http-copy.js gunzip): inflating one gzip stream runs on one core, so that copy is the
// fastest any row count can go, whatever the collector does.
// Env: STREAM_SIZES_MB (default "100,1000"), STREAM_ROUNDS (default 2).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { writeDvfGz, writeStockZip } = require('./files');

const root = path.resolve(__dirname, '../..');
const MB = 1024 * 1024;
const { DVF_COLUMNS } = require(path.join(root, 'dist/collectors/dvf/csv-rows.js'));

function run(args, env = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['-r', path.join(__dirname, 'peak-rss.js'), ...args], {
      cwd: root,
      env: { ...process.env, GOOGLE_CLOUD_PROJECT: 'bench', METADATA_SERVER_DETECTION: 'none', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      const rss = /@@peak-rss-kb (\d+)/.exec(stderr);
      if (code !== 0 || !rss)
        return reject(
          new Error(`${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}\n${stdout.slice(-2000)}`),
        );
      resolve({ wallMs, peakRssMb: +(Number(rss[1]) / 1024).toFixed(1), stdout });
    });
  });
}

/** The folders and files a collector reads, as files.data.gouv.fr lays them out (see the test servers). */
function serve(files) {
  const listing = (entries) =>
    `<table>${entries.map(([name, size]) => `<tr><td><a href="${name}">${name}</a></td><td>${size ?? '-'}</td><td>2026-11-01 06:00</td></tr>`).join('\n')}</table>`;
  const server = http.createServer((req, res) => {
    const url = req.url.split('?')[0];
    const html = (body) => res.writeHead(200, { 'content-type': 'text/html' }).end(body);
    if (url === '/insee-sirene/') return html(listing([[files.stockName, files.stockBytes]]));
    if (url === '/geo-dvf/') return html(listing([['2025-10/'], ['latest/']]));
    if (url === '/geo-dvf/2025-10/csv/') return html(listing([['2024/']]));
    if (url === '/geo-dvf/2025-10/csv/2024/') return html(listing([['full.csv.gz', files.dvfBytes]]));
    const file =
      url === `/insee-sirene/${files.stockName}`
        ? files.stock
        : url === '/geo-dvf/2025-10/csv/2024/full.csv.gz'
          ? files.dvf
          : null;
    if (!file) return res.writeHead(404).end();
    res.writeHead(200, {
      'content-length': fs.statSync(file).size,
      'content-type': 'application/octet-stream',
    });
    fs.createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

async function measure(dir, base, file, collector, fileUrl, rounds, inflates = false) {
  const config = path.join(dir, 'config.yaml');
  const store = path.join(dir, 'store');
  fs.writeFileSync(
    config,
    `storage: { reports: ${store}/reports, raw: ${store}/raw, state: ${store}/state }
collectors:
  sirene: { timeout_seconds: 3600, options: { source: stock, stock_base_url: "${base}/insee-sirene" } }
  dvf: { timeout_seconds: 3600, options: { files: national, years: [2024], base_url: "${base}/geo-dvf/latest/csv" } }
  dvf-header-only: { collector: dvf, timeout_seconds: 3600, options: { files: national, count_rows: false, years: [2024], base_url: "${base}/geo-dvf/latest/csv" } }
`,
  );
  const copies = [];
  const hashed = [];
  const inflated = [];
  const runs = [];
  for (let r = 0; r < rounds; r++) {
    if (inflates) {
      fs.rmSync(path.join(dir, 'copy'), { force: true });
      inflated.push(
        await run([path.join(__dirname, 'http-copy.js'), fileUrl, path.join(dir, 'copy'), 'gunzip']),
      );
    }
    fs.rmSync(path.join(dir, 'copy'), { force: true });
    copies.push(await run([path.join(__dirname, 'http-copy.js'), fileUrl, path.join(dir, 'copy')]));
    fs.rmSync(path.join(dir, 'copy'), { force: true });
    hashed.push(await run([path.join(__dirname, 'http-copy.js'), fileUrl, path.join(dir, 'copy'), 'md5']));
    fs.rmSync(path.join(dir, 'copy'), { force: true });
    fs.rmSync(store, { recursive: true, force: true });
    const result = await run(['bin/scheduler.js', 'collect', collector, '--config', config, '--json']);
    const record = JSON.parse(result.stdout);
    if (record.status !== 'success' || record.manifest.totals.bytes !== fs.statSync(file).size)
      throw new Error(`${collector} did not store the whole file: ${result.stdout.slice(0, 2000)}`);
    runs.push(result);
    fs.rmSync(store, { recursive: true, force: true });
  }
  const bytes = fs.statSync(file).size;
  const copyMs = median(copies.map((c) => c.wallMs));
  const hashedMs = median(hashed.map((c) => c.wallMs));
  const collectorMs = median(runs.map((c) => c.wallMs));
  return {
    mb: +(bytes / MB).toFixed(1),
    copy: {
      wallMs: Math.round(copyMs),
      mbPerSecond: +(bytes / MB / (copyMs / 1000)).toFixed(1),
      peakRssMb: median(copies.map((c) => c.peakRssMb)),
    },
    collector: {
      wallMs: Math.round(collectorMs),
      mbPerSecond: +(bytes / MB / (collectorMs / 1000)).toFixed(1),
      peakRssMb: median(runs.map((c) => c.peakRssMb)),
    },
    throughputOverCopy: +(copyMs / collectorMs).toFixed(3),
    // The store records an MD5 of every object (manifests): the copy doing the same, for scale.
    copyWithMd5: { wallMs: Math.round(hashedMs), mbPerSecond: +(bytes / MB / (hashedMs / 1000)).toFixed(1) },
    throughputOverCopyWithMd5: +(hashedMs / collectorMs).toFixed(3),
    ...(inflates ? withGunzip(bytes, median(inflated.map((c) => c.wallMs)), copyMs, collectorMs) : {}),
  };
}

/** The copy that also inflates and counts lines: the ceiling for a row count (one core inflates). */
function withGunzip(bytes, gunzipMs, copyMs, collectorMs) {
  return {
    copyWithGunzip: {
      wallMs: Math.round(gunzipMs),
      mbPerSecond: +(bytes / MB / (gunzipMs / 1000)).toFixed(1),
      overCopy: +(copyMs / gunzipMs).toFixed(3),
    },
    throughputOverCopyWithGunzip: +(gunzipMs / collectorMs).toFixed(3),
  };
}

async function main() {
  const sizes = (process.env.STREAM_SIZES_MB ?? '100,1000').split(',').map(Number);
  const rounds = Number(process.env.STREAM_ROUNDS ?? 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-streams-'));
  const month = new Date().toISOString().slice(0, 7);
  const results = { sirene: {}, dvf: {}, 'dvf-header-only': {} };
  try {
    for (const size of sizes) {
      const files = {
        stock: path.join(dir, 'stock.zip'),
        dvf: path.join(dir, 'full.csv.gz'),
        stockName: `${month}-01-StockEtablissement_utf8.zip`,
      };
      await writeStockZip(files.stock, size * MB);
      await writeDvfGz(files.dvf, size * MB, DVF_COLUMNS);
      files.stockBytes = fs.statSync(files.stock).size;
      files.dvfBytes = fs.statSync(files.dvf).size;
      const server = await serve(files);
      const base = `http://127.0.0.1:${server.address().port}`;
      try {
        const dvfUrl = `${base}/geo-dvf/2025-10/csv/2024/full.csv.gz`;
        results.sirene[`${size}MB`] = await measure(
          dir,
          base,
          files.stock,
          'sirene',
          `${base}/insee-sirene/${files.stockName}`,
          rounds,
        );
        results.dvf[`${size}MB`] = await measure(dir, base, files.dvf, 'dvf', dvfUrl, rounds, true);
        results['dvf-header-only'][`${size}MB`] = await measure(
          dir,
          base,
          files.dvf,
          'dvf-header-only',
          dvfUrl,
          rounds,
        );
      } finally {
        server.close();
        fs.rmSync(files.stock, { force: true });
        fs.rmSync(files.dvf, { force: true });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const name of ['sirene', 'dvf', 'dvf-header-only']) {
    const keys = Object.keys(results[name]);
    if (keys.length >= 2) {
      const small = results[name][keys[0]];
      const large = results[name][keys[keys.length - 1]];
      results[name].peakRssGrowthMb = +(large.collector.peakRssMb - small.collector.peakRssMb).toFixed(1);
    }
  }
  results.goal = 'collector throughput ÷ plain copy ≥ 0.8; peak RSS at 1 GB − at 100 MB ≤ 30 MB';
  return results;
}

module.exports = { main };

if (require.main === module) {
  main().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
