import type { Config } from '../config/types';
import { checkAlerts, checkBasics, checkFunction, checkJobs, checkQueues } from './check-sections';
import { ProjectCheck } from './check-context';
import type { GcloudRunner } from './gcloud';
import type { JobsPlan } from './scheduler-jobs';
import type { DeploySettings } from './settings';

/**
 * `scheduler deploy --check`: the running project against the config, through read-only gcloud calls
 * (describe, list, get-iam-policy; `--format=json` shapes are the REST resources': Function v2, Job v1,
 * Queue v2, LogMetric v2, AlertPolicy v3; buckets as `gcloud storage` prints them). Returns the
 * differences, one line each; none means the project is as deploy would leave it.
 */
export async function checkProject(
  settings: DeploySettings,
  deployed: Config,
  jobs: JobsPlan,
  run: GcloudRunner,
): Promise<string[]> {
  const c = new ProjectCheck(settings, deployed, jobs, run);
  await checkBasics(c);
  const functionUrl = await checkFunction(c);
  await checkJobs(c, functionUrl);
  await checkQueues(c);
  await checkAlerts(c);
  return c.diffs;
}
