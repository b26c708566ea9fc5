import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { main, type CliIO } from '../../src/cli/main';
import { fakeGcloud, type FakeGcloud } from '../support/fake-gcloud';
import { tempDirs } from '../support/temp';

const ROOT = path.resolve(__dirname, '../..');
const GOLDEN = path.join(__dirname, 'golden');
const dirs = tempDirs();
afterAll(() => dirs.cleanup());

async function cli(args: string[], cwd: string, env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIO = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, cwd };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** A project directory whose config/config.yaml is `yaml` (or the original layout's fixture). */
function project(yaml?: string): string {
  const dir = dirs.make('deploy');
  mkdirSync(path.join(dir, 'config'));
  if (yaml === undefined)
    copyFileSync(path.join(__dirname, 'fixtures/original.yaml'), path.join(dir, 'config/config.yaml'));
  else writeFileSync(path.join(dir, 'config/config.yaml'), yaml);
  return dir;
}

/**
 * The original layout with the caller check a deployed function needs (it refuses to start without
 * one): Cloud Scheduler's tokens for the function's URL, as the fake gcloud answers it.
 */
function deployable(): string {
  const original = readFileSync(path.join(__dirname, 'fixtures/original.yaml'), 'utf8');
  return original.replace(
    'scheduler:\n',
    "scheduler:\n  incoming_auth: { type: google-id-token, audiences: ['https://scheduler-fake-ew.a.run.app'], allowed_emails: [scheduler@my-project.iam.gserviceaccount.com] }\n",
  );
}

/** The golden file, or (UPDATE_GOLDEN=1) the new one written in its place. */
function golden(name: string, actual: string): string {
  const file = path.join(GOLDEN, name);
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, actual);
  return readFileSync(file, 'utf8');
}

describe('scheduler deploy prints what the project needs', () => {
  it('for the default config, as in golden/default.sh', async () => {
    const { code, stdout } = await cli(['deploy'], ROOT);
    expect(code).toBe(0);
    expect(stdout).toBe(golden('default.sh', stdout));
    // The essentials, spelled out so a change to them is read, not just re-recorded.
    expect(stdout).toContain(
      'gcloud functions deploy scheduler --gen2 --runtime=nodejs24 --region=europe-west1',
    );
    expect(stdout).toContain('--no-allow-unauthenticated --timeout=540s --memory=512Mi');
    expect(stdout).toContain('SCHEDULER_REPORTS=gs://my-project-scheduler/reports');
    expect(stdout).toMatch(
      /scheduler jobs create http scheduler-tick-0-30_x_x_x_x .*'--schedule=0,30 \* \* \* \*' --time-zone=Europe\/Paris "--uri=\$\{FUNCTION_URL\}"/,
    );
    expect(stdout).toMatch(/scheduler jobs create http scheduler-tick-5_1_x_x_x .*'--schedule=5 1 \* \* \*'/);
    expect(stdout).toContain('over a week they fire 343 times, 0 of them with nothing due');
    // Callers: an audience known before the function exists, accepted by Cloud Run (custom audience),
    // carried by the jobs' tokens, and checked by the function (incoming_auth from its environment).
    const audience = 'https://europe-west1-my-project.cloudfunctions.net/scheduler';
    expect(stdout).toContain(
      `--oidc-token-audience=${audience} --attempt-deadline=570s --max-retry-attempts=3`,
    );
    expect(stdout).toContain(
      `gcloud run services update scheduler --region=europe-west1 --project=my-project --add-custom-audiences=${audience}\n`,
    );
    expect(stdout).toMatch(
      /--set-env-vars=\S*SCHEDULER_AUDIENCE=https:\/\/europe-west1-my-project\.cloudfunctions\.net\/scheduler,\S*SCHEDULER_INCOMING_AUTH=google-id-token,/,
    );
    expect(stdout).not.toContain('incoming_auth is none');
    expect(stdout).not.toContain('oidc-token-audience=${FUNCTION_URL}');
  });

  it('for the original layout (tasks mode, monitoring, cloud_functions), as in golden/original.sh', async () => {
    const { code, stdout } = await cli(['deploy'], project());
    expect(code).toBe(0);
    expect(stdout).toBe(golden('original.sh', stdout));
    expect(stdout).toContain('gcloud tasks queues create data-collectors');
    expect(stdout).toContain('--role=roles/cloudtasks.enqueuer');
    expect(stdout).toContain('--role=roles/iam.serviceAccountUser');
    expect(stdout).toContain('gcloud functions add-invoker-policy-binding dvf --region=europe-west1');
    expect(stdout).toContain('gcloud run services add-iam-policy-binding sirene-collector');
    expect(stdout).toContain('--memory=1024Mi');
    expect(stdout).toContain('--channel-labels=email_address=data-team@example.com');
    expect(stdout).toContain('"age": 30');
    expect(stdout).toContain('"scheduler/state/ticks/"');
    // It hard-codes no incoming_auth (none): the note stays, naming the audience to list.
    expect(stdout).toContain(
      '# note: scheduler.incoming_auth is none, which a deployed function refuses to start with (see Security): set incoming_auth: { type: google-id-token, audiences: [https://europe-west1-my-project.cloudfunctions.net/scheduler], allowed_emails: [scheduler@my-project.iam.gserviceaccount.com] } before --apply',
    );
  });

  it.each(['default.sh', 'original.sh'])('golden/%s is a valid POSIX shell script', (name) => {
    const result = spawnSync('sh', ['-n', path.join(GOLDEN, name)], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.each([
    [
      'a store left on local disk',
      'storage: { reports: ./var/reports }\nscheduler: { tasks: { project: p } }\ncollectors: { dvf: {} }\n',
      /config\/config\.yaml storage\.reports: "\.\/var\/reports" is on local disk for the deployed function/,
    ],
    ['no project', 'collectors: { dvf: {} }\n', /deploy\.project: no Google Cloud project to deploy to/],
    [
      'a deadline no function can wait for',
      'scheduler: { deadline_seconds: 3590, tasks: { project: p } }\nstorage: { reports: gs://bkt1/r, raw: gs://bkt1/w, state: gs://bkt1/s }\ncollectors: { dvf: {} }\n',
      /scheduler\.deadline_seconds: 3590 s plus the report and alert budgets is 3630 s, over the 3600 s/,
    ],
  ])('refuses %s with exit 2 and the key to fix', async (_what, yaml, message) => {
    const { code, stderr } = await cli(['deploy'], project(yaml));
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('refuses a config file the upload leaves out (.gcloudignore)', async () => {
    const { code, stderr } = await cli(['deploy', '--config', 'tests/deploy/fixtures/original.yaml'], ROOT);
    expect(code).toBe(2);
    expect(stderr).toContain('is left out of the upload by .gcloudignore ("tests/")');
  });
});

describe('scheduler deploy --apply, against a recording fake gcloud on PATH', () => {
  let gcloud: FakeGcloud;
  /** The original layout applied once to an empty project: its calls and the project it left. */
  let base: { dir: string; calls: string[][]; state: unknown; stdout: string; stderr: string; code: number };
  beforeAll(async () => {
    const g = fakeGcloud();
    try {
      const dir = project(deployable());
      const run = await cli(['deploy', '--apply'], dir, g.env);
      base = { dir, calls: g.calls(), state: g.state(), ...run };
    } finally {
      g.cleanup();
    }
  }, 120_000);
  beforeEach(() => {
    gcloud = fakeGcloud();
  });
  afterEach(() => gcloud.cleanup());

  /** `gcloud a b c ID ...` as "a b c ID" (the command and its resource), for readable sequences. */
  const heads = (calls: string[][]) =>
    calls.map((c) =>
      c
        .filter((a) => !a.startsWith('--'))
        .slice(0, 6)
        .join(' '),
    );

  it('creates everything on an empty project, updates it the second time, and --check then finds nothing to change', async () => {
    expect(base.stderr).not.toMatch(/error/);
    expect(base.code).toBe(0);
    expect(heads(base.calls)).toEqual([
      'services enable cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com',
      'iam service-accounts describe scheduler@my-project.iam.gserviceaccount.com',
      'iam service-accounts create scheduler',
      'storage buckets describe gs://my-data-bucket',
      'storage buckets create gs://my-data-bucket',
      'storage buckets update gs://my-data-bucket',
      'storage buckets add-iam-policy-binding gs://my-data-bucket',
      'tasks queues describe data-collectors',
      'tasks queues create data-collectors',
      'tasks queues add-iam-policy-binding data-collectors',
      'iam service-accounts add-iam-policy-binding scheduler@my-project.iam.gserviceaccount.com',
      'functions deploy scheduler',
      'run services update scheduler',
      'functions describe scheduler',
      'functions add-invoker-policy-binding scheduler',
      'functions add-invoker-policy-binding dvf',
      'run services add-iam-policy-binding sirene-collector',
      'functions add-invoker-policy-binding insee_contours',
      'functions add-invoker-policy-binding plu',
      'functions add-invoker-policy-binding xmp',
      'scheduler jobs describe scheduler-tick-0-30_x_x_x_x',
      'scheduler jobs create http scheduler-tick-0-30_x_x_x_x',
      'scheduler jobs list',
      'logging metrics describe scheduler-collector-failing',
      'logging metrics create scheduler-collector-failing',
      'beta monitoring channels list',
      'beta monitoring channels create',
      'alpha monitoring policies list',
      'alpha monitoring policies create',
    ]);
    // The job targets the function's URL, as gcloud answered it, with an OIDC token for it: this config
    // lists that URL as its audience, not deploy's own, which the job would otherwise carry (noted).
    const job = base.calls.find((c) => c[2] === 'create' && c[3] === 'http')!;
    expect(job).toContain('--uri=https://scheduler-fake-ew.a.run.app');
    expect(job).toContain('--oidc-token-audience=https://scheduler-fake-ew.a.run.app');
    // The policy e-mails the channel created for monitoring.alert_email.
    expect(base.calls.at(-1)).toContain('--notification-channels=projects/my-project/channels/1');
    expect(base.stdout.split('\n')[0]).toMatch(/^gcloud services enable /);
    expect(base.stderr).toContain(
      "note: scheduler.incoming_auth.audiences does not hold https://europe-west1-my-project.cloudfunctions.net/scheduler, so Cloud Scheduler's tokens carry the function's URL",
    );

    gcloud.setState(base.state);
    const second = await cli(['deploy', '--apply'], base.dir, gcloud.env);
    expect(second.code).toBe(0);
    const again = heads(gcloud.calls());
    expect(again.filter((h) => / create /.test(` ${h} `))).toEqual([]);
    expect(again).toContain('scheduler jobs update http scheduler-tick-0-30_x_x_x_x');
    expect(again).toContain('tasks queues update data-collectors');
    expect(again).toContain('alpha monitoring policies update projects/my-project/policies/1');
    expect(second.stderr).toContain(
      'Cloud Scheduler job scheduler-tick-0-30_x_x_x_x (0,30 * * * *, UTC): updated',
    );

    gcloud.clearCalls();
    const check = await cli(['deploy', '--check'], base.dir, gcloud.env);
    expect(check.stdout).toBe('project my-project matches config/config.yaml: no differences\n');
    expect(check.code).toBe(0);
    // --check only reads.
    const verbs = gcloud
      .calls()
      .map((c) =>
        c.find((a) => /^(describe|list|get-iam-policy|create|update|delete|deploy|enable|add-.*)$/.test(a)),
      );
    expect(new Set(verbs)).toEqual(new Set(['describe', 'list', 'get-iam-policy']));
  });

  it('runs the printed script to the same calls as --apply', async () => {
    const printed = await cli(['deploy'], base.dir);
    const script = path.join(base.dir, 'deploy.sh');
    writeFileSync(script, printed.stdout);
    const result = spawnSync('sh', [script], {
      cwd: base.dir,
      env: { ...process.env, ...gcloud.env },
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const scratch = (calls: string[][]) =>
      calls.map((c) => c.map((a) => a.replace(/=\/.*\/lifecycle-/, '=DIR/lifecycle-')));
    expect(scratch(gcloud.calls())).toEqual(scratch(base.calls));
  });

  it('deletes the job a changed schedule leaves behind, and creates the new one', async () => {
    const yaml = (cron: string) =>
      `timezone: Europe/Paris\nstorage: { reports: gs://bkt1/reports, raw: gs://bkt1/raw, state: gs://bkt1/state }\nscheduler: { tasks: { project: p1, location: europe-west1 }, incoming_auth: { type: none, allow_unauthenticated: true } }\nalerts: { enabled: false }\ncollectors:\n  dvf: { schedule: "${cron}" }\n`;
    const dir = project(yaml('0 4 * * *'));
    expect((await cli(['deploy', '--apply'], dir, gcloud.env)).code).toBe(0);
    writeFileSync(path.join(dir, 'config/config.yaml'), yaml('15 4 * * *'));
    gcloud.clearCalls();
    const changed = await cli(['deploy', '--apply'], dir, gcloud.env);
    expect(changed.code).toBe(0);
    expect(heads(gcloud.calls())).toEqual(
      expect.arrayContaining([
        'scheduler jobs create http scheduler-tick-15_4_x_x_x',
        'scheduler jobs delete scheduler-tick-0_4_x_x_x',
      ]),
    );
    expect(changed.stderr).toContain('deleted scheduler-tick-0_4_x_x_x');
  });

  it('refuses to --apply a config whose function would refuse to start (incoming_auth none), before any call', async () => {
    const { code, stderr } = await cli(['deploy', '--apply'], project(), gcloud.env);
    expect(code).toBe(2);
    expect(stderr).toContain(
      'config/config.yaml scheduler.incoming_auth: is none, which a deployed function refuses to start with: set type google-id-token with audiences [https://europe-west1-my-project.cloudfunctions.net/scheduler]',
    );
    expect(gcloud.calls()).toEqual([]);
  });

  it('stops at the first step gcloud refuses, says which and why, and exits 1', async () => {
    gcloud.setState({
      ...(base.state as object),
      canned: [
        {
          args: ['functions', 'deploy'],
          code: 1,
          stderr: 'PERMISSION_DENIED: Permission denied on resource project my-project.',
        },
      ],
    });
    const { code, stderr } = await cli(['deploy', '--apply'], base.dir, gcloud.env);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /error: deploy stopped: function scheduler \(nodejs24, gen2\): gcloud exited 1: ERROR: \(gcloud\) PERMISSION_DENIED: Permission denied on resource project my-project\. \(gcloud functions deploy scheduler /,
    );
    expect(heads(gcloud.calls()).at(-1)).toBe('functions deploy scheduler');
  });

  it('--check lists how a running project differs from the config, and exits 1', async () => {
    const state = JSON.parse(JSON.stringify(base.state)) as {
      resources: Record<string, Record<string, { doc: Record<string, unknown> }>>;
      bindings: Record<string, { role: string; members: string[] }[]>;
    };
    // Drift: an old runtime and the 60 s default timeout, a paused job, a stale job, the public invoker.
    const fn = state.resources['functions']!['scheduler']!.doc as {
      buildConfig: { runtime: string };
      serviceConfig: { timeoutSeconds: number };
    };
    fn.buildConfig.runtime = 'nodejs20';
    fn.serviceConfig.timeoutSeconds = 60;
    state.resources['scheduler jobs']!['scheduler-tick-0-30_x_x_x_x']!.doc['state'] = 'PAUSED';
    state.resources['scheduler jobs']!['scheduler-tick-0_2_x_x_x'] = { doc: {} };
    state.bindings['run services scheduler']![0]!.members.push('allUsers');
    delete state.resources['logging metrics']!['scheduler-collector-failing'];
    gcloud.setState(state);
    const { code, stdout } = await cli(['deploy', '--check'], base.dir, gcloud.env);
    expect(code).toBe(1);
    expect(stdout.split('\n')).toEqual([
      'project my-project differs from config/config.yaml in 6 places:',
      '  - function scheduler: runtime is "nodejs20", the config wants "nodejs24"',
      '  - function scheduler: timeout is 60, the config wants 540',
      '  - function scheduler: anyone may invoke it (allUsers); deploy sets --no-allow-unauthenticated',
      '  - Cloud Scheduler job scheduler-tick-0_2_x_x_x is not needed by the config (deploy deletes it)',
      '  - Cloud Scheduler job scheduler-tick-0-30_x_x_x_x is PAUSED',
      '  - log-based metric scheduler-collector-failing does not exist',
      'run `scheduler deploy --apply` to set it up as the config says',
      '',
    ]);
  });
});
