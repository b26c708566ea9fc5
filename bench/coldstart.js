'use strict';
// Cold-start benchmark (issue 3): process spawn → first 200 from GET /healthz of the function, as a
// ratio to a hello-world functions-framework function measured alternately in the same run; plus the
// import time of the function module alone.
const { spawn, execFileSync } = require('node:child_process');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
// The package's exports map hides main.js; resolve it next to the entry point.
const ffMain = path.join(
  path.dirname(require.resolve('@google-cloud/functions-framework', { paths: [root] })),
  'main.js',
);

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function get(port, pathName) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}

async function coldStartMs(target, source) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [ffMain, `--target=${target}`, `--source=${source}`, `--port=${port}`],
    {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        GOOGLE_CLOUD_PROJECT: 'bench',
        METADATA_SERVER_DETECTION: 'none',
      },
      stdio: 'ignore',
    },
  );
  try {
    for (;;) {
      if ((await get(port, '/healthz')) === 200) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill();
  }
}

/** Import time of `file`; with `preload`, after functions-framework's server is loaded, as in a cold start. */
function importMs(file, preload) {
  const pre = preload ? `require(${JSON.stringify(path.join(path.dirname(ffMain), 'server.js'))});` : '';
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `${pre}const t=performance.now();require(${JSON.stringify(file)});process.stdout.write(String(performance.now()-t))`,
    ],
    { cwd: root },
  );
  return Number(out.toString());
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function coldstart({ runs = 15 } = {}) {
  const fn = { target: 'scheduler', source: path.join(root, 'dist/src/index.js') };
  const hello = { target: 'hello', source: path.join(__dirname, 'hello/index.js') };
  await coldStartMs(fn.target, fn.source); // warm the disk cache
  await coldStartMs(hello.target, hello.source);
  const ours = [];
  const base = [];
  for (let i = 0; i < runs; i++) {
    // Alternate, so drift in machine load hits both the same way.
    base.push(await coldStartMs(hello.target, hello.source));
    ours.push(await coldStartMs(fn.target, fn.source));
  }
  const imports = [];
  const coldPathImports = [];
  const helloImports = [];
  for (let i = 0; i < 7; i++) {
    imports.push(importMs(fn.source, false));
    coldPathImports.push(importMs(fn.source, true));
    helloImports.push(importMs(hello.source, false));
  }
  return {
    runs,
    functionMedianMs: Math.round(median(ours)),
    helloWorldMedianMs: Math.round(median(base)),
    ratio: +(median(ours) / median(base)).toFixed(3),
    functionModuleImportMs: +median(imports).toFixed(1),
    functionModuleImportAfterFrameworkMs: +median(coldPathImports).toFixed(1),
    helloModuleImportMs: +median(helloImports).toFixed(1),
  };
}

module.exports = { coldstart };

if (require.main === module) {
  coldstart().then((r) => console.log(JSON.stringify(r, null, 2)));
}
