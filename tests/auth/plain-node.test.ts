import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { decodeIdToken } from '../support/id-tokens';
import { startMetadataServer, type MetadataServer } from '../support/metadata-server';

/**
 * What jest cannot show: a plain Node process, as on Cloud Functions. Jest loads modules through its
 * own registry (so "is google-auth-library loaded yet?" has no plain answer), turns an unhandled
 * rejection into a test failure instead of a crash, and cannot run gaxios' `import('node-fetch')`. Here
 * the sources run in a child `node`, transpiled on the fly, against the loopback metadata server.
 */
const ROOT = path.resolve(__dirname, '../..');

const TS_HOOK = `
const ts = require('typescript');
const fs = require('node:fs');
require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'), {
  fileName: file,
  compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
}).outputText, file);
const ROOT = ${JSON.stringify(ROOT)};
`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let gcloudDir: string;
let metadata: MetadataServer | null = null;

beforeEach(() => {
  gcloudDir = mkdtempSync(path.join(tmpdir(), 'no-gcloud-'));
});

afterEach(async () => {
  rmSync(gcloudDir, { recursive: true, force: true });
  await metadata?.close();
  metadata = null;
});

function runNode(script: string, env: Record<string, string>, args: string[] = []): Promise<Run> {
  const base: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'SYSTEMROOT']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-e', TS_HOOK + script, ...args],
      {
        cwd: ROOT,
        env: { ...base, GOOGLE_CLOUD_PROJECT: 'test-project', CLOUDSDK_CONFIG: gcloudDir, ...env },
        timeout: 20_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('in a plain Node process', () => {
  it('loads google-auth-library only at the first headersFor, then gets the ID token through it', async () => {
    metadata = await startMetadataServer();
    const script = `
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/google-auth-library/'));
      (async () => {
        const { createHeaderProvider } = require(ROOT + '/src/auth/create.ts');
        const provider = createHeaderProvider({ type: 'google-id-token' }, { env: process.env, secrets: { get: async () => null } });
        const before = loaded();
        const started = performance.now();
        const first = await provider.headersFor(process.argv[1]);
        const firstMs = performance.now() - started;
        const again = performance.now();
        const second = await provider.headersFor(process.argv[1]);
        const cachedMs = performance.now() - again;
        console.log(JSON.stringify({ before, after: loaded(), first: first.authorization, same: second.authorization === first.authorization, firstMs, cachedMs }));
      })();
    `;
    const run = await runNode(
      script,
      { GCE_METADATA_HOST: metadata.host, METADATA_SERVER_DETECTION: 'assume-present' },
      ['https://dvf-abc.a.run.app/collectors/dvf?key=abc'],
    );

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      before: boolean;
      after: boolean;
      first: string;
      same: boolean;
      firstMs: number;
      cachedMs: number;
    };
    expect(result).toMatchObject({ before: false, after: true, same: true });
    expect(decodeIdToken(result.first)?.aud).toBe('https://dvf-abc.a.run.app/collectors/dvf');
    expect(metadata.identityRequests()).toEqual([
      { audience: 'https://dvf-abc.a.run.app/collectors/dvf', format: 'full' },
    ]);
  });

  it('without credentials: one AUTH_NO_CREDENTIALS error each for ID tokens and Secret Manager, and no crash', async () => {
    const script = `
      (async () => {
        const { GoogleIdTokenProvider } = require(ROOT + '/src/auth/google-id-token.ts');
        const { SecretManagerSource } = require(ROOT + '/src/secrets/secret-manager.ts');
        const attempts = [
          () => new GoogleIdTokenProvider().headersFor('https://a.example/run'),
          () => new SecretManagerSource().get({ secret: 'projects/p/secrets/s/versions/1' }),
        ];
        for (const attempt of attempts) {
          try { await attempt(); console.log('resolved'); } catch (e) { console.log(e.code + ': ' + e.message); }
        }
      })();
    `;
    const run = await runNode(script, { METADATA_SERVER_DETECTION: 'none' });

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^AUTH_NO_CREDENTIALS: no Google credentials to mint ID tokens .*GOOGLE_APPLICATION_CREDENTIALS/,
    );
    expect(lines[1]).toMatch(
      /^AUTH_NO_CREDENTIALS: no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS/,
    );
  });

  it('(the trap the check avoids: a Secret Manager client built without credentials kills the process)', async () => {
    const script = `
      const { SecretManagerServiceClient } = require('@google-cloud/secret-manager');
      new SecretManagerServiceClient()
        .accessSecretVersion({ name: 'projects/p/secrets/s/versions/1' })
        .catch(() => console.log('caught'));
    `;
    const run = await runNode(script, { METADATA_SERVER_DETECTION: 'none' });

    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('Could not load the default credentials');
  });
});
