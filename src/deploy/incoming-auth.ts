import type { Config } from '../config/types';
import type { DeploySettings } from './settings';
import type { Step } from './steps';

/**
 * How Cloud Scheduler's calls get through both walls of the deployed function: Cloud Run's IAM check
 * (`roles/run.invoker`, and an `aud` the service accepts) and the function's own caller check
 * (`scheduler.incoming_auth`).
 *
 * The function's URL only exists after its first deploy, but the function has to be told which
 * audience to accept when it is deployed. So deploy picks an audience known beforehand, the
 * function's `https://REGION-PROJECT.cloudfunctions.net/NAME` URL, and makes it a custom audience of
 * the function's Cloud Run service (`gcloud run services update --add-custom-audiences`): Cloud Run
 * documents that its Google-generated `run.app` URL stays accepted beside the custom audiences
 * (cloud.google.com/run/docs/configuring/custom-audiences), while whether it already accepts the
 * cloudfunctions.net URL for a gen2 function is not documented, so it is added explicitly. The jobs
 * mint their tokens for it, and the default config lists it in `incoming_auth.audiences`
 * ($SCHEDULER_AUDIENCE, which deploy sets).
 */

/** The function's URL, as a step captures it after the deploy. */
export const FUNCTION_URL = '${FUNCTION_URL}';

/** The Cloud Run service behind a gen2 function: the function's name in lower case. */
export function functionService(functionName: string): string {
  return functionName.toLowerCase();
}

/** Whether the deployed function will start: Cloud Run refuses `incoming_auth: none` (src/auth/incoming). */
export function refusesToStart(config: Config): boolean {
  const incoming = config.scheduler.incomingAuth;
  return incoming.type === 'none' && !incoming.allowUnauthenticated;
}

/**
 * The audience of Cloud Scheduler's tokens: deploy's own, unless the function checks ID tokens against
 * audiences that leave it out (a config written for the function's URL), which then keeps getting it.
 */
export function jobAudience(config: Config, settings: Pick<DeploySettings, 'audience'>): string {
  const incoming = config.scheduler.incomingAuth;
  return incoming.type === 'google-id-token' && !incoming.audiences.includes(settings.audience)
    ? FUNCTION_URL
    : settings.audience;
}

/** Makes Cloud Run accept ID tokens for deploy's audience (after each deploy, which may reset it). */
export function customAudienceStep(settings: DeploySettings): Step {
  return {
    kind: 'run',
    title: `Cloud Run accepts ID tokens for ${settings.audience} (custom audience of function ${settings.functionName})`,
    args: [
      'run',
      'services',
      'update',
      functionService(settings.functionName),
      `--region=${settings.region}`,
      `--project=${settings.project}`,
      `--add-custom-audiences=${settings.audience}`,
    ],
  };
}

/** One header line: who calls the function, with what, and who checks it. */
export function callersLine(config: Config, settings: DeploySettings): string {
  const incoming = config.scheduler.incomingAuth;
  const audience = jobAudience(config, settings);
  const checks =
    incoming.type === 'none'
      ? `the function itself checks nobody (incoming_auth none${incoming.allowUnauthenticated ? ', allow_unauthenticated' : ''})`
      : `the function checks them again itself (incoming_auth ${incoming.type})`;
  return `callers: Cloud Scheduler sends OIDC tokens minted as ${settings.serviceAccount} for ${audience === FUNCTION_URL ? "the function's URL" : audience}; Cloud Run checks them (IAM), and ${checks}`;
}

/** What the function's own caller check needs to let Cloud Scheduler (and Cloud Tasks) in. */
export function incomingAuthNotes(config: Config, settings: DeploySettings): string[] {
  const incoming = config.scheduler.incomingAuth;
  if (refusesToStart(config))
    return [
      `scheduler.incoming_auth is none, which a deployed function refuses to start with (see Security): set incoming_auth: { type: google-id-token, audiences: [${settings.audience}], allowed_emails: [${settings.serviceAccount}] } before --apply, or read them from $SCHEDULER_INCOMING_AUTH, $SCHEDULER_AUDIENCE and $SCHEDULER_SERVICE_ACCOUNT, which deploy sets, as config/config.yaml does`,
    ];
  if (incoming.type === 'bearer')
    return [
      `scheduler.incoming_auth is bearer, but Cloud Scheduler's jobs send OIDC tokens, not that secret: the function would answer their calls 401 (use google-id-token)`,
    ];
  if (incoming.type !== 'google-id-token') return [];
  const callers = [settings.serviceAccount];
  if (config.scheduler.mode === 'tasks' && config.scheduler.tasks.serviceAccountEmail)
    callers.push(config.scheduler.tasks.serviceAccountEmail);
  const missing = [...new Set(callers)].filter((e) => !incoming.allowedEmails.includes(e.toLowerCase()));
  return [
    ...(missing.length > 0
      ? [
          `scheduler.incoming_auth.allowed_emails lacks ${missing.join(', ')}: the function would refuse Cloud Scheduler's (or Cloud Tasks') calls with 403`,
        ]
      : []),
    ...(jobAudience(config, settings) === FUNCTION_URL
      ? [
          `scheduler.incoming_auth.audiences does not hold ${settings.audience}, so Cloud Scheduler's tokens carry the function's URL (${FUNCTION_URL} below), which audiences must then hold: list ${settings.audience} instead and a first deploy works in one go`,
        ]
      : []),
  ];
}
