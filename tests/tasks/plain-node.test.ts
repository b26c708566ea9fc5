/**
 * What jest cannot show, in plain Node processes running the compiled code (dist/, built by jest's
 * global setup): the Cloud Tasks client stays off the cold path, a missing-credentials failure is an
 * outcome and not a crash (gax's unhandled rejection trap), and the CLI exits once its tasks are
 * created, its gRPC channel left open.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startServer, type TestServer } from '../support/http';
import { startTasksServer, type TasksServer } from '../support/tasks-server';
import { tempDirs } from '../support/temp';

const ROOT = path.resolve(__dirname, '../..');
const dirs = tempDirs();
let tasks: TasksServer | null = null;
let collector: TestServer | null = null;
afterEach(async () => {
  await tasks?.close();
  await collector?.close();
  tasks = null;
  collector = null;
});
afterAll(() => dirs.cleanup());

function node(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      {
        cwd: ROOT,
        // No gcloud config of this machine's: no credentials, and nothing to spawn gcloud for.
        env: { ...process.env, CLOUDSDK_CONFIG: dirs.make('no-gcloud'), ...env },
        timeout: 20_000,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

const LOADED = `const loaded = (name) => Object.keys(require.cache).some((k) => k.includes('/node_modules/' + name + '/'));`;

describe('in a plain Node process', () => {
  it('keeps @google-cloud/tasks off the cold path, and fails without credentials as an outcome, not a crash', async () => {
    const script = `
      ${LOADED}
      const dist = ${JSON.stringify(path.join(ROOT, 'dist/src'))};
      require(dist + '/http/function-handler.js');
      require(dist + '/execution/execute.js');
      const { createTasksDispatcher } = require(dist + '/dispatch/tasks-dispatcher.js');
      const { parseConfig } = require(dist + '/config/load.js');
      const atStart = loaded('@google-cloud/tasks') || loaded('google-gax');
      const config = parseConfig(
        'storage: { reports: /tmp/r, raw: /tmp/w, state: /tmp/s }\\nscheduler:\\n  mode: tasks\\n  tasks: { project: p, location: l, service_account_email: s@p.iam.gserviceaccount.com }\\ncollectors:\\n  dvf: { url: "https://collectors.example/dvf" }\\n',
        'plain.yaml', {});
      const c = config.collectors[0];
      const dispatcher = createTasksDispatcher({
        config, clock: { now: Date.now, sleep: async () => {}, schedule: () => () => {} },
        logger: { info() {}, warn() {}, error() {}, debug() {}, child() { return this; } },
        env: {}, auth: { headersFor: async () => ({}) }, random: Math.random,
      });
      dispatcher.dispatch([{ name: 'dvf', url: c.url, payload: { executionId: 'e', collector: 'dvf',
        scheduledTime: '2026-11-22T14:00:00.000Z', attempt: 1 }, timeoutMs: 300000,
        retry: c.retry, group: null, groupWaitMs: 0, queue: 'q' }], { signal: new AbortController().signal })
        .then(([o]) => console.log(JSON.stringify({ atStart, afterFailure: loaded('@google-cloud/tasks'), status: o.status, errorType: o.errorType, error: o.error })));
    `;
    const run = await node(['-e', script]);
    expect(run.stderr).not.toMatch(/Unhandled|Could not load the default credentials/);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      atStart: false,
      afterFailure: false,
      status: 'failed',
      errorType: 'AuthError',
    });
    expect(result['error']).toMatch(/no Google credentials/);
  });

  it('`scheduler run --mode tasks` creates the tasks and exits, its gRPC channel left open', async () => {
    tasks = await startTasksServer({ autoCreateQueues: true });
    collector = await startServer((_req, res) => void res.writeHead(200).end('{}'));
    const dir = dirs.make('cli-tasks');
    const config = path.join(dir, 'config.yaml');
    writeFileSync(
      config,
      [
        `storage: { reports: ${dir}/reports, raw: ${dir}/raw, state: ${dir}/state }`,
        'scheduler:',
        '  auth: { type: none }',
        '  tasks: { project: test-project, location: us-central1, service_account_email: s@test-project.iam.gserviceaccount.com }',
        'collectors:',
        `  remote: { url: "${collector.url}/collect" }`,
      ].join('\n'),
    );
    const run = await node(['bin/scheduler.js', 'run', '--mode', 'tasks', '--config', config], {
      CLOUD_TASKS_EMULATOR_HOST: tasks.address,
    });
    expect(run.stderr).toMatch(/✓ remote: scheduled/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/1 collector, 0 succeeded, 0 failed, 0 skipped, 1 scheduled/);
    await tasks.waitForIdle();
    expect(collector.requests).toHaveLength(1);
    expect(collector.requests[0]!.json).toMatchObject({ collector: 'remote', attempt: 1 });
  });
});
