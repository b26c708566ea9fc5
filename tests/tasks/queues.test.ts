/**
 * `scheduler queues`: the queue plan (which queue each collector's tasks go to, with which settings), the
 * gcloud commands printed, and `--apply` through an injected runner or a fake gcloud binary. The real
 * gcloud is never run.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { main, type CliIO } from '../../src/cli/main';
import { gcloudRunner, queuesCommand, type GcloudRunner } from '../../src/cli/queues';
import { planQueues } from '../../src/tasks/queues';
import { queueIdFor } from '../../src/tasks/naming';
import { testConfig } from '../support/services';
import { tempDirs } from '../support/temp';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

const YAML = `
scheduler:
  retry: { attempts: 3, min_backoff_seconds: 2, max_backoff_seconds: 60 }
  tasks:
    project: test-project
    location: europe-west1
    queue: data-collectors
    service_account_email: scheduler@test-project.iam.gserviceaccount.com
    max_dispatches_per_second: 2
    max_concurrent_dispatches: 8
    max_attempts: 4
collectors:
  dvf: { url: "https://collectors.example/dvf" }
  sirene: { url: "https://collectors.example/sirene", queue: sirene-paced, retry: { min_backoff_seconds: 10, max_backoff_seconds: 300 } }
  plu: { url: "https://collectors.example/plu", enabled: false, retry: { min_backoff_seconds: 0 } }
  xmp: { url: "https://collectors.example/xmp", group: xmp_account }
  xmp-daily: { url: "https://collectors.example/xmp-daily", group: xmp_account, queue: elsewhere }
`;

function io(env: Record<string, string | undefined> = {}): CliIO & { out: string; err: string } {
  const self = {
    out: '',
    err: '',
    stdout: (t: string) => void (self.out += t),
    stderr: (t: string) => void (self.err += t),
    env,
    cwd: process.cwd(),
  };
  return self;
}

describe('the queue plan', () => {
  it('one queue per configured queue and one per group (concurrency 1), with rates, attempts and backoffs', () => {
    const config = testConfig(YAML, dirs.make('queues'));
    const plan = planQueues(config);
    expect(plan.map((q) => [q.id, q.collectors, q.maxConcurrentDispatches])).toEqual([
      ['data-collectors', ['dvf', 'plu'], 8],
      ['sirene-paced', ['sirene'], 8],
      ['data-collectors-xmp-account', ['xmp', 'xmp-daily'], 1],
    ]);
    expect(plan[0]).toMatchObject({
      group: null,
      maxDispatchesPerSecond: 2,
      maxAttempts: 4,
      // dvf's 2 s and plu's 0 s (Cloud Tasks' smallest explicit backoff is 0.1 s).
      minBackoffSeconds: 0.1,
      maxBackoffSeconds: 60,
      notes: [expect.stringMatching(/backoffs differ/)],
    });
    expect(plan[1]).toMatchObject({ minBackoffSeconds: 10, maxBackoffSeconds: 300 });
    expect(plan[2]!.group).toBe('xmp_account');
    expect(plan[2]!.notes).toEqual([
      'xmp-daily is in group xmp_account: its tasks go to data-collectors-xmp-account, not to its queue elsewhere',
    ]);
    // The dispatcher sends every collector to a queue of the plan.
    const ids = new Set(plan.map((q) => q.id));
    for (const c of config.collectors) expect(ids.has(queueIdFor(config, c))).toBe(true);
  });
});

describe('scheduler queues', () => {
  function configFile(yaml = YAML): string {
    const dir = dirs.make('queues-cli');
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, `storage: { reports: ${dir}/r, raw: ${dir}/w, state: ${dir}/s }\n${yaml}`);
    return file;
  }

  it('prints a shell script that creates each queue, or updates it when it exists', async () => {
    const out = io();
    expect(await main(['queues', '--config', configFile()], out)).toBe(0);
    expect(out.out).toContain(
      'if gcloud tasks queues describe data-collectors-xmp-account --project=test-project --location=europe-west1 >/dev/null 2>&1; then',
    );
    const settings =
      '--project=test-project --location=europe-west1 --max-dispatches-per-second=2 --max-concurrent-dispatches=1 --max-attempts=4 --min-backoff=2s --max-backoff=60s';
    expect(out.out).toContain(`  gcloud tasks queues update data-collectors-xmp-account ${settings}\nelse\n`);
    expect(out.out).toContain(`  gcloud tasks queues create data-collectors-xmp-account ${settings}\nfi`);
    expect(out.out).toMatch(/^# sirene-paced: sirene$/m);
    expect(out.out).toMatch(
      /^# data-collectors-xmp-account: xmp, xmp-daily \(group xmp_account: one at a time\)$/m,
    );
    expect(out.out).toMatch(/^# note: xmp-daily is in group xmp_account/m);
    expect(out.out.match(/^if gcloud/gm)).toHaveLength(3);
    // Valid sh (checked with -n: parsed, not run).
    expect(() => execFileSync('sh', ['-n'], { input: out.out })).not.toThrow();
  });

  it('--json prints the plan with its commands', async () => {
    const out = io();
    expect(await main(['queues', '--json', '--config', configFile()], out)).toBe(0);
    const plan = JSON.parse(out.out) as {
      project: string;
      queues: { id: string; commands: { create: string[] } }[];
    };
    expect(plan.project).toBe('test-project');
    expect(plan.queues[1]).toMatchObject({
      id: 'sirene-paced',
      commands: { create: expect.arrayContaining(['gcloud', 'create', 'sirene-paced', '--min-backoff=10s']) },
    });
  });

  it('exits 2 when the project or location is missing', async () => {
    const out = io();
    const yaml = 'collectors:\n  dvf: {}\n';
    expect(await main(['queues', '--config', configFile(yaml)], out)).toBe(2);
    expect(out.err).toMatch(/scheduler\.tasks\.project and scheduler\.tasks\.location are needed/);
  });

  it('--apply creates missing queues and updates existing ones, and exits 1 when gcloud fails', async () => {
    const config = testConfig(YAML, dirs.make('apply'));
    const calls: string[][] = [];
    const runner: GcloudRunner = async (args) => {
      calls.push([...args]);
      const [, , verb, id] = args;
      if (verb === 'describe')
        return { code: id === 'data-collectors' ? 0 : 1, stdout: '', stderr: 'NOT_FOUND' };
      if (verb === 'create' && id === 'sirene-paced')
        return { code: 1, stdout: '', stderr: 'PERMISSION_DENIED: cloudtasks.queues.create' };
      return { code: 0, stdout: '', stderr: '' };
    };
    const out = io();
    expect(await queuesCommand({ apply: true }, config, out, runner)).toBe(1);
    expect(calls.map((c) => `${c[2]} ${c[3]}`)).toEqual([
      'describe data-collectors',
      'update data-collectors',
      'describe sirene-paced',
      'create sirene-paced',
      'describe data-collectors-xmp-account',
      'create data-collectors-xmp-account',
    ]);
    expect(calls[5]).toContain('--max-concurrent-dispatches=1');
    expect(out.err).toContain('queue data-collectors: updated');
    expect(out.err).toContain(
      'queue sirene-paced: gcloud exited 1: PERMISSION_DENIED: cloudtasks.queues.create',
    );
    expect(out.err).toContain('queue data-collectors-xmp-account: created');
  });

  it('the default runner runs the gcloud binary it is given with the arguments as they are', async () => {
    const dir = dirs.make('fake-gcloud');
    const log = path.join(dir, 'calls.log');
    const fake = path.join(dir, 'gcloud');
    // A stand-in gcloud: logs its arguments; `describe` of a queue named "exists" succeeds.
    writeFileSync(
      fake,
      `#!${process.execPath}\nconst args = process.argv.slice(2);\nrequire('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n');\nif (args[2] === 'describe' && args[3] !== 'exists') { process.stderr.write('NOT_FOUND: queue'); process.exit(1); }\n`,
    );
    chmodSync(fake, 0o755);
    const run = gcloudRunner(fake, process.env);
    expect(await run(['tasks', 'queues', 'describe', 'exists'])).toMatchObject({ code: 0 });
    expect(await run(['tasks', 'queues', 'describe', 'missing'])).toMatchObject({
      code: 1,
      stderr: 'NOT_FOUND: queue',
    });
    const missing = await gcloudRunner(path.join(dir, 'no-such-gcloud'), process.env)(['version']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/ENOENT/);
    expect(
      readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as string[]),
    ).toEqual([
      ['tasks', 'queues', 'describe', 'exists'],
      ['tasks', 'queues', 'describe', 'missing'],
    ]);
  });
});
