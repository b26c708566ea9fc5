import type { Config } from '../config/types';
import type { DeploySettings } from './settings';

/** A secret the function reads: it needs roles/secretmanager.secretAccessor on it. */
export interface NamedSecret {
  project: string;
  name: string;
}

const SECRET_VERSION = /^projects\/([^/]+)\/secrets\/([^/]+)\/versions\/[^/]+$/;

/**
 * Every Secret Manager secret the deployed function reads: the incoming/outgoing bearer's, the alert
 * webhooks', the collectors' (`*_secret` options), and those mapped onto environment variables.
 */
export function secretsNamed(
  config: Config,
  settings: Pick<DeploySettings, 'project' | 'secretEnv'>,
): NamedSecret[] {
  const refs: string[] = [];
  if (config.scheduler.auth.type === 'bearer' && config.scheduler.auth.secret)
    refs.push(config.scheduler.auth.secret);
  for (const ref of [config.alerts?.slack, config.alerts?.webhook])
    if (ref && 'secret' in ref) refs.push(ref.secret);
  for (const c of config.collectors) {
    for (const [key, value] of Object.entries(c.options))
      if (key.endsWith('_secret') && typeof value === 'string') refs.push(value);
  }
  const found = new Map<string, NamedSecret>();
  for (const ref of refs) {
    const m = SECRET_VERSION.exec(ref);
    if (m) found.set(`${m[1]}/${m[2]}`, { project: m[1]!, name: m[2]! });
  }
  for (const ref of Object.values(settings.secretEnv)) {
    const full = /^projects\/([^/]+)\/secrets\/([^/:]+):/.exec(ref);
    const short = /^([^/:]+):/.exec(ref);
    if (full) found.set(`${full[1]}/${full[2]}`, { project: full[1]!, name: full[2]! });
    else if (short)
      found.set(`${settings.project}/${short[1]}`, { project: settings.project, name: short[1]! });
  }
  return [...found.values()].sort((a, b) => `${a.project}/${a.name}`.localeCompare(`${b.project}/${b.name}`));
}

/** Where a collector is served, and who must be allowed to invoke it. */
export type InvokerTarget =
  | { kind: 'function'; name: string; region: string; project: string; member: string; collectors: string[] }
  | {
      kind: 'run';
      name: string;
      region: string;
      project: string;
      member: string;
      collectors: string[];
      note: string | null;
    }
  | { kind: 'unknown'; url: string; member: string; collectors: string[] };

/**
 * The services behind the collectors' URLs. The caller is the scheduler's account in HTTP mode, and
 * the account Cloud Tasks signs as in tasks mode. Collectors without a URL are served by the function
 * itself and need nothing.
 */
export function invokerTargets(
  config: Config,
  settings: Pick<DeploySettings, 'project' | 'region' | 'serviceAccount'>,
): InvokerTarget[] {
  const member =
    config.scheduler.mode === 'tasks'
      ? (config.scheduler.tasks.serviceAccountEmail ?? settings.serviceAccount)
      : settings.serviceAccount;
  const targets = new Map<string, InvokerTarget>();
  for (const c of config.collectors) {
    if (c.url === null) continue;
    const t = targetOf(c.url, member, settings);
    const key = t.kind === 'unknown' ? `unknown|${t.url}` : `${t.kind}|${t.project}|${t.region}|${t.name}`;
    const existing = targets.get(key);
    if (existing) existing.collectors.push(c.name);
    else targets.set(key, { ...t, collectors: [c.name] });
  }
  return [...targets.values()];
}

function targetOf(
  url: string,
  member: string,
  settings: Pick<DeploySettings, 'project' | 'region'>,
): InvokerTarget {
  const u = new URL(url);
  // https://REGION-PROJECT.cloudfunctions.net/NAME (1st and 2nd gen functions).
  const fn = /^([a-z]+-[a-z]+[0-9]+)-([a-z][a-z0-9-]{4,28}[a-z0-9])\.cloudfunctions\.net$/.exec(u.hostname);
  const name = u.pathname.split('/').filter(Boolean)[0];
  if (fn && name) return { kind: 'function', name, region: fn[1]!, project: fn[2]!, member, collectors: [] };
  // https://SERVICE-PROJECT_NUMBER.REGION.run.app (deterministic URLs).
  const run = /^([a-z][a-z0-9-]*)-\d+\.([a-z]+-[a-z]+[0-9]+)\.run\.app$/.exec(u.hostname);
  if (run)
    return {
      kind: 'run',
      name: run[1]!,
      region: run[2]!,
      project: settings.project,
      member,
      note: null,
      collectors: [],
    };
  // https://SERVICE-HASH-REGIONCODE.a.run.app: the region is only a code; assume the deploy's.
  const legacy = /^([a-z][a-z0-9-]*?)-[a-z0-9]+-[a-z]{2,4}\.a\.run\.app$/.exec(u.hostname);
  if (legacy)
    return {
      kind: 'run',
      name: legacy[1]!,
      region: settings.region,
      project: settings.project,
      member,
      note: `Cloud Run service ${legacy[1]} (${u.hostname}) is assumed to be in ${settings.region}, ${settings.project}: its URL only carries a region code`,
      collectors: [],
    };
  return { kind: 'unknown', url: `${u.protocol}//${u.host}${u.pathname}`, member, collectors: [] };
}
