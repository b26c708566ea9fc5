'use strict';
// Some tests run the compiled CLI and collectors in child processes (as a user or a kill -9 would):
// build dist/ first. Incremental, so it costs little when nothing changed. Type errors do not stop the
// tests (tsc still emits; `npm run typecheck` is where they fail the build).
const { spawnSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalSetup() {
  const root = path.resolve(__dirname, '../..');
  const result = spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: root, encoding: 'utf8' },
  );
  if (result.status !== 0)
    process.stderr.write(
      `\nbuild before tests reported problems (tests still run):\n${result.stdout}${result.stderr}\n`,
    );
};
