#!/usr/bin/env node
'use strict';
// A fake `gcloud` for `scheduler deploy` tests: put its directory first on PATH (see fake-gcloud.ts).
// It appends every call to $FAKE_GCLOUD_LOG (one JSON array of arguments a line) and keeps a small
// model of a project in $FAKE_GCLOUD_STATE: resources by kind and id, created by `create`/`deploy`,
// changed by `update`, removed by `delete`; `describe` fails with NOT_FOUND for what does not exist.
// `canned` answers in the state file (first whose args start with the given ones) win over the model:
// that is how --check tests describe a project that drifted. Nothing here talks to Google.
//
// What `describe --format=json` answers is modelled on the REST resources gcloud prints (claims, with
// sources): a function as Cloud Functions v2 `Function` (buildConfig.runtime, serviceConfig.{uri,
// timeoutSeconds, availableMemory, serviceAccountEmail, environmentVariables}; cloud.google.com/functions/
// docs/reference/rest/v2/projects.locations.functions), a job as Cloud Scheduler v1 `Job` (schedule,
// timeZone, httpTarget.{uri, oidcToken}, attemptDeadline as a Duration string, retryConfig.retryCount,
// state; cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs), a queue as Cloud
// Tasks v2 `Queue` (rateLimits, retryConfig with Duration strings; cloud.google.com/tasks/docs/reference/
// rest/v2/projects.locations.queues). A bucket's rules under `lifecycle_config` follows the storage
// docs' `gcloud storage buckets describe --format="default(lifecycle_config)"` (the JSON key itself is
// unconfirmed), and how gcloud turns `--memory=512Mi` into availableMemory is unconfirmed too: the check
// compares memory in MiB whatever the unit.
//
// A gen2 function runs as the Cloud Run service of its name (lower case): `functions deploy` makes it
// here, and `run services update --add-custom-audiences` adds to its custom audiences, which
// `run services describe` shows as `gcloud run services describe --format export` does, a JSON list in
// the `run.googleapis.com/custom-audiences` annotation (github.com/goblet/goblet/issues/421). Whether a
// function deploy keeps a service's custom audiences is unconfirmed; goblet#421 saw a redeploy of the
// service clear them, so here every `functions deploy` clears them (the worst case).
const fs = require('node:fs');

const args = process.argv.slice(2);
const logFile = process.env.FAKE_GCLOUD_LOG;
const stateFile = process.env.FAKE_GCLOUD_STATE;
if (logFile) fs.appendFileSync(logFile, JSON.stringify(args) + '\n');
const state = stateFile && fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, 'utf8')) : {};
state.resources ??= {};
state.canned ??= [];

function save() {
  if (stateFile) fs.writeFileSync(stateFile, JSON.stringify(state, null, 2));
}
function out(text, code = 0) {
  if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  process.exit(code);
}
function fail(message, code = 1) {
  process.stderr.write(`ERROR: (gcloud) ${message}\n`);
  process.exit(code);
}
const flag = (name) => {
  const found = args.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? undefined : found.slice(name.length + 3);
};

for (const c of state.canned) {
  if (c.args.every((a, i) => args[i] === a)) {
    if (c.code) fail(c.stderr ?? 'canned failure', c.code);
    out(typeof c.stdout === 'string' ? c.stdout : JSON.stringify(c.stdout));
  }
}

const VERBS = [
  'describe',
  'create',
  'update',
  'delete',
  'list',
  'deploy',
  'enable',
  'add-iam-policy-binding',
  'add-invoker-policy-binding',
  'get-iam-policy',
];
const v = args.findIndex((a) => VERBS.includes(a));
if (v < 0) fail(`fake gcloud does not know "${args.join(' ')}"`, 2);
const verb = args[v];
const kind = args.slice(0, v).join(' ');
const positional = args.slice(v + 1).filter((a) => !a.startsWith('--') && a !== 'http');
const id = positional[0];
const bucket = (state.resources[kind] ??= {});

switch (verb) {
  case 'describe': {
    const found = bucket[id];
    if (!found) fail(`NOT_FOUND: ${kind} ${id} was not found`);
    if (kind === 'functions' && flag('format') === 'value(serviceConfig.uri)')
      out(state.functionUrl ?? `https://${id}-fake-ew.a.run.app`);
    out(JSON.stringify(found.doc ?? { name: id }));
    break;
  }
  case 'create':
  case 'deploy': {
    // A service account is created by its id and known by its e-mail afterwards.
    const made = kind === 'iam service-accounts' ? `${id}@${flag('project')}.iam.gserviceaccount.com` : id;
    if (verb === 'create' && bucket[made]) fail(`ALREADY_EXISTS: ${kind} ${made}`, 1);
    const name =
      made ?? `projects/${flag('project') ?? 'p'}/${kind.split(' ').pop()}/${Object.keys(bucket).length + 1}`;
    bucket[name] = { flags: args.slice(v + 1), doc: docFor(kind, name) };
    if (kind === 'functions') {
      const service = name.toLowerCase();
      (state.resources['run services'] ??= {})[service] = { doc: serviceDoc(service, []) };
    }
    if (verb === 'create' && kind.endsWith('monitoring channels'))
      bucket[name].email = flag('channel-labels');
    save();
    out(flag('format') === 'value(name)' ? name : '');
    break;
  }
  case 'update': {
    if (!bucket[id]) fail(`NOT_FOUND: ${kind} ${id}`);
    if (kind === 'run services') {
      const annotation = bucket[id].doc.metadata.annotations['run.googleapis.com/custom-audiences'];
      const audiences = annotation ? JSON.parse(annotation) : [];
      const added = (flag('add-custom-audiences') ?? '').split(',').filter(Boolean);
      bucket[id].doc = serviceDoc(id, [...new Set([...audiences, ...added])]);
      save();
      out('');
    }
    bucket[id] = { ...bucket[id], flags: args.slice(v + 1), doc: { ...bucket[id].doc, ...docFor(kind, id) } };
    save();
    out('');
    break;
  }
  case 'delete':
    if (!bucket[id]) fail(`NOT_FOUND: ${kind} ${id}`);
    delete bucket[id];
    save();
    out('');
    break;
  case 'list': {
    const filter = flag('filter') ?? '';
    let names = Object.keys(bucket);
    if (kind.endsWith('monitoring channels')) {
      const email = /labels\.email_address="([^"]+)"/.exec(filter)?.[1];
      names = names.filter((n) => bucket[n].email === `email_address=${email}`);
    }
    if (kind.endsWith('monitoring policies')) {
      const display = /displayName="([^"]+)"/.exec(filter)?.[1];
      names = names.filter((n) =>
        (bucket[n].flags ?? []).some((f) => f.includes(`"displayName":"${display}"`)),
      );
    }
    if (kind === 'scheduler jobs') names = names.map((n) => `projects/p/locations/l/jobs/${n}`);
    if (kind === 'services') names = state.enabledServices ?? [];
    out(flag('format') === 'json' ? JSON.stringify(names.map((name) => ({ name }))) : names.join('\n'));
    break;
  }
  case 'enable':
    state.enabledServices = [...new Set([...(state.enabledServices ?? []), ...positional])];
    save();
    out('');
    break;
  case 'get-iam-policy':
    out(JSON.stringify({ bindings: (state.bindings ?? {})[`${kind} ${id}`] ?? [] }));
    break;
  default: {
    // add-iam-policy-binding / add-invoker-policy-binding: kept, so a check after an apply finds them.
    state.bindings ??= {};
    // A gen2 function's invoker binding lives on its Cloud Run service (gcloud's own help says so).
    const key = verb === 'add-invoker-policy-binding' ? `run services ${id.toLowerCase()}` : `${kind} ${id}`;
    const role = flag('role') ?? 'roles/run.invoker';
    const list = (state.bindings[key] ??= []);
    let b = list.find((x) => x.role === role);
    if (!b) list.push((b = { role, members: [] }));
    if (!b.members.includes(flag('member'))) b.members.push(flag('member'));
    save();
    out('');
  }
}

/** A Cloud Run service as `gcloud run services describe` shows it (v1, Knative-style). */
function serviceDoc(name, customAudiences) {
  const annotations = customAudiences.length
    ? { 'run.googleapis.com/custom-audiences': JSON.stringify(customAudiences) }
    : {};
  return { apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name, annotations } };
}

/** The resource as `describe --format=json` would show it after this create/update/deploy. */
function docFor(kind, name) {
  const seconds = (d) => (d === undefined ? undefined : `${parseFloat(d)}s`);
  switch (kind) {
    case 'functions':
      return {
        name,
        environment: 'GEN_2',
        buildConfig: { runtime: flag('runtime'), entryPoint: flag('entry-point') },
        serviceConfig: {
          uri: state.functionUrl ?? `https://${name}-fake-ew.a.run.app`,
          timeoutSeconds: parseInt(flag('timeout'), 10),
          availableMemory: flag('memory'),
          serviceAccountEmail: flag('service-account'),
          environmentVariables: Object.fromEntries(
            (flag('set-env-vars') ?? '')
              .replace(/^\^\|\^/, '')
              .split(/[,|]/)
              .filter(Boolean)
              .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
          ),
        },
      };
    case 'scheduler jobs':
      return {
        name,
        schedule: flag('schedule'),
        timeZone: flag('time-zone'),
        state: 'ENABLED',
        attemptDeadline: seconds(flag('attempt-deadline')),
        httpTarget: {
          uri: flag('uri'),
          httpMethod: (flag('http-method') ?? 'post').toUpperCase(),
          oidcToken: {
            serviceAccountEmail: flag('oidc-service-account-email'),
            audience: flag('oidc-token-audience'),
          },
        },
        retryConfig: { retryCount: Number(flag('max-retry-attempts') ?? 0) },
      };
    case 'tasks queues':
      return {
        name,
        rateLimits: {
          maxDispatchesPerSecond: Number(flag('max-dispatches-per-second')),
          maxConcurrentDispatches: Number(flag('max-concurrent-dispatches')),
        },
        retryConfig: {
          maxAttempts: Number(flag('max-attempts')),
          minBackoff: seconds(flag('min-backoff')),
          maxBackoff: seconds(flag('max-backoff')),
        },
      };
    case 'storage buckets': {
      const file = flag('lifecycle-file');
      return file ? { name, lifecycle_config: JSON.parse(fs.readFileSync(file, 'utf8')) } : { name };
    }
    case 'logging metrics':
      return { name, filter: flag('log-filter'), description: flag('description') };
    default:
      return { name, enabled: true };
  }
}
