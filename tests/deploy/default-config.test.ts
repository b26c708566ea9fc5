import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { builtinCollectors } from '../../collectors';
import { createCallerCheck } from '../../src/auth/incoming/create';
import { GoogleIdTokenCheck } from '../../src/auth/incoming/google-id-token';
import { main, type CliIO } from '../../src/cli/main';
import { parseConfig } from '../../src/config/load';
import { isSchedulerError } from '../../src/errors';
import { envSecretSource } from '../../src/secrets/env-source';
import { fakeGcloud, type FakeGcloud } from '../support/fake-gcloud';
import {
  makeSigningKey,
  serviceAccountClaims,
  signIdToken,
  startGoogleCertsServer,
  type GoogleCertsServer,
} from '../support/google-certs';
import { captureLogger } from '../support/services';
import { tempDirs } from '../support/temp';

/**
 * The default config (config/config.yaml) deploys as is: `scheduler deploy --apply` against a recording
 * fake gcloud, then the deployed function's side of it replayed from what gcloud was told: the config
 * loaded with the environment `functions deploy` set, under K_SERVICE, and Cloud Scheduler's token (the
 * audience and account its job was created with) checked by the function's caller check.
 */
const ROOT = path.resolve(__dirname, '../..');
const CONFIG = path.join(ROOT, 'config/config.yaml');
const AUDIENCE = 'https://europe-west1-my-project.cloudfunctions.net/scheduler';
const ACCOUNT = 'scheduler@my-project.iam.gserviceaccount.com';
const dirs = tempDirs();
afterAll(() => dirs.cleanup());

async function cli(args: string[], cwd: string, env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIO = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, cwd };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

const flag = (call: readonly string[], name: string) =>
  call.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** `--set-env-vars=A=1,B=2` (or gcloud's `^|^A=1|B=2`) as a record. */
function envOf(call: readonly string[]): Record<string, string> {
  const list = flag(call, 'set-env-vars') ?? '';
  const delimiter = list.startsWith('^|^') ? '|' : ',';
  return Object.fromEntries(
    list
      .replace(/^\^\|\^/, '')
      .split(delimiter)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** The config as the deployed function loads it (src/http/function-handler.ts), under `env`. */
function asDeployed(env: Record<string, string>) {
  return parseConfig(readFileSync(CONFIG, 'utf8'), 'config/config.yaml', env, {
    collectors: builtinCollectors(),
    deployedAs: env['K_SERVICE'],
  });
}

describe('the default config, deployed with one `scheduler deploy --apply`', () => {
  let gcloud: FakeGcloud;
  let dir: string;
  let applied: { code: number; stdout: string; stderr: string; calls: string[][] };
  beforeAll(async () => {
    gcloud = fakeGcloud();
    dir = dirs.make('default-deploy');
    mkdirSync(path.join(dir, 'config'));
    copyFileSync(CONFIG, path.join(dir, 'config/config.yaml'));
    const run = await cli(['deploy', '--apply'], dir, gcloud.env);
    applied = { ...run, calls: gcloud.calls() };
  }, 120_000);
  afterAll(() => gcloud.cleanup());

  const call = (...head: string[]) => applied.calls.find((c) => head.every((h, i) => c[i] === h))!;

  it('runs through, with no note that the function would refuse to start', () => {
    expect(applied.stderr).not.toMatch(/error/);
    expect(applied.code).toBe(0);
    expect(applied.stderr).not.toContain('incoming_auth');
    expect(applied.stderr).toContain('deployed: project my-project, function scheduler in europe-west1');
  });

  it('gives the function the caller check through its environment, and Cloud Run the audience', () => {
    const env = envOf(call('functions', 'deploy'));
    expect(env).toMatchObject({
      SCHEDULER_INCOMING_AUTH: 'google-id-token',
      SCHEDULER_AUDIENCE: AUDIENCE,
      SCHEDULER_SERVICE_ACCOUNT: ACCOUNT,
    });
    const heads = applied.calls.map((c) => c.slice(0, 3).join(' '));
    // The custom audience is added after the deploy (which may reset it), before any job uses it.
    const deployed = heads.indexOf('functions deploy scheduler');
    const audience = heads.indexOf('run services update');
    expect(deployed).toBeGreaterThanOrEqual(0);
    expect(audience).toBe(deployed + 1);
    expect(call('run', 'services', 'update')).toEqual([
      'run',
      'services',
      'update',
      'scheduler',
      '--region=europe-west1',
      '--project=my-project',
      `--add-custom-audiences=${AUDIENCE}`,
    ]);
    const jobs = applied.calls.filter((c) => c[0] === 'scheduler' && c[2] === 'create');
    expect(jobs).toHaveLength(2);
    for (const job of jobs) {
      expect(flag(job, 'oidc-token-audience')).toBe(AUDIENCE);
      expect(flag(job, 'oidc-service-account-email')).toBe(ACCOUNT);
      expect(heads.indexOf('scheduler jobs create')).toBeGreaterThan(audience);
    }
  });

  describe("the deployed function, as gcloud's calls left it", () => {
    let certs: GoogleCertsServer;
    const key = makeSigningKey('deploy-key');
    beforeAll(async () => {
      certs = await startGoogleCertsServer([key]);
    });
    afterAll(() => certs.close());

    it("starts (K_SERVICE set) and lets Cloud Scheduler's token in, and no other", async () => {
      const env = { ...envOf(call('functions', 'deploy')), K_SERVICE: 'scheduler' };
      const config = asDeployed(env);
      expect(config.scheduler.incomingAuth).toEqual({
        type: 'google-id-token',
        audiences: [AUDIENCE],
        allowedEmails: [ACCOUNT],
        certsUrl: 'https://www.googleapis.com/oauth2/v1/certs',
      });
      // What start-up builds (src/services.ts): no refusal.
      const { logger } = captureLogger();
      const started = createCallerCheck(config, { env, secrets: envSecretSource(env), logger });
      expect(started.type).toBe('google-id-token');

      // The same check against this test's certificates instead of Google's.
      const incoming = config.scheduler.incomingAuth as Extract<
        typeof config.scheduler.incomingAuth,
        { type: 'google-id-token' }
      >;
      const check = new GoogleIdTokenCheck({
        ...incoming,
        certsUrl: certs.certsUrl,
        fetch: globalThis.fetch,
      });
      const job = call('scheduler', 'jobs', 'create');
      const token = (aud: string, email: string) =>
        `Bearer ${signIdToken(key, serviceAccountClaims(aud, email))}`;
      const scheduler = token(flag(job, 'oidc-token-audience')!, flag(job, 'oidc-service-account-email')!);
      expect(await check.check({ authorization: scheduler })).toEqual({ allowed: true, caller: ACCOUNT });
      expect(
        await check.check({ authorization: token('https://scheduler-fake-ew.a.run.app', ACCOUNT) }),
      ).toMatchObject({ allowed: false, status: 401, reason: 'ID token refused: wrong audience' });
      expect(
        await check.check({ authorization: token(AUDIENCE, 'someone@other.iam.gserviceaccount.com') }),
      ).toMatchObject({ allowed: false, status: 403 });
    });

    it('without the environment deploy sets, the same file is none: locally as today, refused on Cloud Run', () => {
      const local = asDeployed({});
      expect(local.scheduler.incomingAuth).toEqual({ type: 'none', allowUnauthenticated: false });
      const { logger } = captureLogger();
      expect(createCallerCheck(local, { env: {}, secrets: envSecretSource({}), logger }).type).toBe('none');
      const onCloudRun = { K_SERVICE: 'scheduler', SCHEDULER_STATE: 'gs://b/state' };
      let refusal: unknown;
      try {
        createCallerCheck(asDeployed(onCloudRun), {
          env: onCloudRun,
          secrets: envSecretSource({}),
          logger,
        });
      } catch (error) {
        refusal = error;
      }
      expect(isSchedulerError(refusal, 'CONFIG_INVALID')).toBe(true);
    });
  });

  it('--check then finds nothing, and names a lost custom audience and a job minting for another audience', async () => {
    gcloud.clearCalls();
    const clean = await cli(['deploy', '--check'], dir, gcloud.env);
    expect(clean.stdout).toBe('project my-project matches config/config.yaml: no differences\n');
    expect(clean.code).toBe(0);
    expect(gcloud.calls()).toContainEqual([
      'run',
      'services',
      'describe',
      'scheduler',
      '--region=europe-west1',
      '--project=my-project',
      '--format=json',
    ]);

    const state = gcloud.state() as {
      resources: Record<string, Record<string, { doc: Record<string, unknown> }>>;
    };
    // A function redeployed by hand (which may drop custom audiences), a job edited in the console.
    const service = state.resources['run services']!['scheduler']!.doc as {
      metadata: { annotations: Record<string, string> };
    };
    expect(JSON.parse(service.metadata.annotations['run.googleapis.com/custom-audiences']!)).toEqual([
      AUDIENCE,
    ]);
    service.metadata.annotations = {};
    const job = state.resources['scheduler jobs']!['scheduler-tick-5_1_x_x_x']!.doc as {
      httpTarget: { oidcToken: { audience: string } };
    };
    job.httpTarget.oidcToken.audience = 'https://scheduler-fake-ew.a.run.app';
    gcloud.setState(state);
    const drifted = await cli(['deploy', '--check'], dir, gcloud.env);
    expect(drifted.code).toBe(1);
    expect(drifted.stdout.split('\n')).toEqual([
      'project my-project differs from config/config.yaml in 2 places:',
      `  - function scheduler: Cloud Run does not accept ID tokens for ${AUDIENCE} (not a custom audience of service scheduler), the audience Cloud Scheduler's tokens carry`,
      `  - Cloud Scheduler job scheduler-tick-5_1_x_x_x: OIDC audience is "https://scheduler-fake-ew.a.run.app", the config wants "${AUDIENCE}"`,
      'run `scheduler deploy --apply` to set it up as the config says',
      '',
    ]);

    // Applying again puts both back.
    const again = await cli(['deploy', '--apply'], dir, gcloud.env);
    expect(again.code).toBe(0);
    expect((await cli(['deploy', '--check'], dir, gcloud.env)).code).toBe(0);
  }, 120_000);
});
