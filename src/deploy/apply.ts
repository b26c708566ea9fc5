import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { GcloudResult, GcloudRunner } from './gcloud';
import { shellCommand, substitute, type DeployPlanText, type Step } from './steps';

export interface ApplyIO {
  /** Each command, as it is run. */
  command: (line: string) => void;
  /** What happened (created, updated, kept). */
  status: (line: string) => void;
}

/** A step that failed: what ran, and what gcloud said. */
export class DeployStepError extends Error {
  constructor(step: Step, args: readonly string[], result: GcloudResult) {
    super(
      `${step.title}: gcloud exited ${result.code}${result.stderr.trim() ? `: ${result.stderr.trim().split('\n').slice(-3).join(' ')}` : ''} (${shellCommand(args)})`,
    );
    this.name = 'DeployStepError';
  }
}

/**
 * Runs the plan through gcloud, step by step, as the printed script would: describe then create or
 * update, capture values later steps use. Stops at the first failure (later steps depend on earlier
 * ones); running it again picks up where it stopped, every step being idempotent.
 */
export async function applyPlan(plan: DeployPlanText, run: GcloudRunner, io: ApplyIO): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'scheduler-deploy-'));
  const values: Record<string, string> = { DEPLOY_DIR: dir };
  const exec = async (step: Step, args: readonly string[], mustSucceed = true): Promise<GcloudResult> => {
    const real = args.map((a) => substitute(a, values));
    io.command(shellCommand(real));
    const result = await run(real);
    if (mustSucceed && result.code !== 0) throw new DeployStepError(step, real, result);
    return result;
  };
  const quiet = async (args: readonly string[]) => run(args.map((a) => substitute(a, values)));
  try {
    for (const step of plan.steps) {
      switch (step.kind) {
        case 'run':
          await exec(step, step.args);
          io.status(`${step.title}: done`);
          break;
        case 'ensure': {
          const exists = (await quiet(step.describe)).code === 0;
          if (exists && !step.update) io.status(`${step.title}: exists`);
          else {
            await exec(step, exists ? step.update! : step.create);
            io.status(`${step.title}: ${exists ? 'updated' : 'created'}`);
          }
          break;
        }
        case 'capture':
          values[step.variable] = (await exec(step, step.args)).stdout.trim();
          if (!values[step.variable]) throw new Error(`${step.title}: gcloud answered nothing`);
          break;
        case 'find-or-create': {
          const found = (await exec(step, step.find)).stdout.trim();
          values[step.variable] = found || (await exec(step, step.create)).stdout.trim();
          io.status(`${step.title}: ${found ? 'exists' : 'created'}`);
          break;
        }
        case 'upsert': {
          const found = (await exec(step, step.find)).stdout.trim().split('\n')[0]!.trim();
          if (found) values[step.variable] = found;
          await exec(step, found ? step.update : step.create);
          io.status(`${step.title}: ${found ? 'updated' : 'created'}`);
          break;
        }
        case 'file':
          await writeFile(path.join(dir, step.name), step.content);
          break;
        case 'prune': {
          const names = (await exec(step, step.list)).stdout
            .split('\n')
            .map((l) => l.trim().split('/').pop()!)
            .filter((n) => n.startsWith(step.prefix) && !step.keep.includes(n));
          for (const name of names) {
            values['JOB'] = name;
            await exec(step, step.remove);
            io.status(`${step.title}: deleted ${name}`);
          }
          break;
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
