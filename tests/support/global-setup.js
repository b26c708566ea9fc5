'use strict';
// Some tests run the compiled CLI and collectors in child processes (as a user or a kill -9 would):
// build dist/ first. Incremental, so it costs little when nothing changed.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalSetup() {
  const root = path.resolve(__dirname, '../..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
};
