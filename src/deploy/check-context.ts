import type { Config } from '../config/types';
import type { GcloudRunner } from './gcloud';
import type { JobsPlan } from './scheduler-jobs';
import type { DeploySettings } from './settings';

/** An IAM policy as `get-iam-policy --format=json` prints it. */
export interface IamJson {
  bindings?: { role: string; members: string[] }[];
}

/** One check of a project: the inputs, the differences found so far, and the helpers every section uses. */
export class ProjectCheck {
  readonly diffs: string[] = [];
  readonly where: string;
  readonly member: string;

  constructor(
    readonly settings: DeploySettings,
    readonly deployed: Config,
    readonly jobs: JobsPlan,
    readonly run: GcloudRunner,
  ) {
    this.where = `--project=${settings.project}`;
    this.member = `serviceAccount:${settings.serviceAccount}`;
  }

  /** A gcloud call's JSON answer, null when it failed or did not answer JSON. */
  readonly json = async (args: string[]): Promise<unknown | null> => {
    const r = await this.run([...args, '--format=json']);
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.stdout) as unknown;
    } catch {
      return null;
    }
  };

  readonly compare = (what: string, actual: unknown, expected: unknown): void => {
    if (actual !== expected)
      this.diffs.push(
        `${what} is ${actual === undefined || actual === null ? 'unset' : JSON.stringify(actual)}, the config wants ${JSON.stringify(expected)}`,
      );
  };

  readonly binding = async (args: string[], role: string, what: string): Promise<void> => {
    const policy = (await this.json(args)) as IamJson | null;
    const members = policy?.bindings?.find((b) => b.role === role)?.members ?? [];
    if (!members.includes(this.member))
      this.diffs.push(`${what}: ${this.settings.serviceAccount} lacks ${role}`);
  };
}
