import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ConfigError } from '../config/errors';
import { parseConfig } from '../config/load';
import type { Config } from '../config/types';
import { SchedulerError } from '../errors';
import { applyPlan } from '../deploy/apply';
import { checkProject } from '../deploy/check';
import { gcloudRunner, type GcloudRunner } from '../deploy/gcloud';
import { refusesToStart } from '../deploy/incoming-auth';
import { deployPlan } from '../deploy/plan';
import { planJobs } from '../deploy/scheduler-jobs';
import { renderScript } from '../deploy/script';
import { resolveDeploy } from '../deploy/settings';
import { EXIT, type CliIO } from './types';

export interface DeployOptions {
  apply?: boolean;
  check?: boolean;
}

/**
 * `scheduler deploy`: everything the Google Cloud project needs, derived from the config as the
 * deployed function will load it, printed as a shell script; `--apply` runs it through gcloud,
 * `--check` compares the running project with it through read-only calls. Needs only the config: no
 * store or client is opened.
 */
export async function deployCommand(
  options: DeployOptions,
  configFile: string,
  builtinCollectors: readonly string[],
  io: CliIO,
  run: GcloudRunner = gcloudRunner('gcloud', io.env),
): Promise<number> {
  const { text, source } = await readUploadedConfig(configFile, io.cwd);
  const parse = (env: Readonly<Record<string, string | undefined>>): Config =>
    parseConfig(text, source, env, { builtinCollectors });
  const { settings, deployed } = resolveDeploy({
    config: parse(io.env),
    configText: text,
    configFile: source.split(path.sep).join('/'),
    reload: (env) => parse(env),
  });
  const jobs = planJobs(deployed, settings.functionName);

  if (options.check)
    return reportCheck(await checkProject(settings, deployed, jobs, run), settings, source, io);

  const plan = deployPlan(settings, deployed, jobs);
  if (!options.apply) {
    io.stdout(renderScript(plan, source));
    return EXIT.ok;
  }
  if (refusesToStart(deployed)) {
    throw new ConfigError(source, [
      {
        path: 'scheduler.incoming_auth',
        line: null,
        message: `is none, which a deployed function refuses to start with: set type google-id-token with audiences [${settings.audience}] (deploy makes Cloud Run accept it, and Cloud Scheduler's tokens carry it) and allowed_emails [${settings.serviceAccount}], or read them from $SCHEDULER_INCOMING_AUTH, $SCHEDULER_AUDIENCE and $SCHEDULER_SERVICE_ACCOUNT, which deploy sets, as config/config.yaml does; nothing was changed`,
      },
    ]);
  }
  try {
    await applyPlan(plan, run, {
      command: (line) => io.stdout(`${line}\n`),
      status: (line) => io.stderr(`${line}\n`),
    });
  } catch (error) {
    io.stderr(`error: deploy stopped: ${(error as Error).message}\n`);
    return EXIT.failed;
  }
  for (const note of plan.notes) io.stderr(`note: ${note}\n`);
  io.stderr(
    `deployed: project ${settings.project}, function ${settings.functionName} in ${settings.region}\n`,
  );
  return EXIT.ok;
}

/**
 * The config file's text and its path as the deployed function sees it: the file must be inside the
 * directory deploy uploads, and not left out of the upload by .gcloudignore.
 */
async function readUploadedConfig(
  configFile: string,
  cwd: string,
): Promise<{ text: string; source: string }> {
  let text: string;
  try {
    text = await readFile(configFile, 'utf8');
  } catch (cause) {
    throw new SchedulerError('CONFIG_NOT_FOUND', `config file ${configFile} cannot be read; pass --config`, {
      cause,
    });
  }
  const source = path.relative(cwd, configFile);
  if (source.startsWith('..') || path.isAbsolute(source)) {
    throw new ConfigError(configFile, [
      {
        path: '',
        line: null,
        message: `is outside ${cwd}, the source deploy uploads: the function could not read it (run deploy from the project's root)`,
      },
    ]);
  }
  const ignored = await ignoredBy(cwd, source);
  if (ignored) {
    throw new ConfigError(source, [
      {
        path: '',
        line: null,
        message: `is left out of the upload by .gcloudignore ("${ignored}"): the deployed function could not read it`,
      },
    ]);
  }
  return { text, source };
}

/** `--check`: the differences found, one line each, and the exit code. */
function reportCheck(
  differences: string[],
  settings: { project: string },
  source: string,
  io: CliIO,
): number {
  if (differences.length === 0) {
    io.stdout(`project ${settings.project} matches ${source}: no differences\n`);
    return EXIT.ok;
  }
  io.stdout(
    `project ${settings.project} differs from ${source} in ${differences.length} place${differences.length === 1 ? '' : 's'}:\n${differences.map((d) => `  - ${d}`).join('\n')}\nrun \`scheduler deploy --apply\` to set it up as the config says\n`,
  );
  return EXIT.failed;
}

/** The .gcloudignore line that leaves `file` out of the upload (directory and glob lines), if any. */
async function ignoredBy(root: string, file: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path.join(root, '.gcloudignore'), 'utf8');
  } catch {
    return null;
  }
  const segments = file.split(path.sep);
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const pattern = line.replace(/^\//, '').replace(/\/$/, '');
    const glob = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
    if (segments.some((_, i) => glob.test(segments.slice(0, i + 1).join('/')) || glob.test(segments[i]!)))
      return line;
  }
  return null;
}
