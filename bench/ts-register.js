'use strict';
// Lets a benchmark's child process load the tests' TypeScript support servers (tests/support/*.ts) as
// they are, with TypeScript's own transpiler (a dev dependency): `node -r ./bench/ts-register.js ...`.
const fs = require('node:fs');
const ts = require('typescript');

require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
    },
    fileName: filename,
  });
  module._compile(outputText, filename);
};
