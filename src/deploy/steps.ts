/**
 * A deploy is a list of steps, each idempotent, that `scheduler deploy` prints as a shell script and
 * `--apply` runs itself through gcloud. Arguments are gcloud's (without `gcloud`); `${NAME}` in an
 * argument is a value an earlier step found out (the function's URL, a notification channel) or the
 * deploy's scratch directory.
 */
export type Step =
  /** A command that is already create-or-update (services enable, functions deploy, IAM bindings). */
  | { kind: 'run'; title: string; args: string[] }
  /** Describe; create when it fails, else update (or nothing, when `update` is null). */
  | { kind: 'ensure'; title: string; describe: string[]; create: string[]; update: string[] | null }
  /** Runs a read-only command and keeps its output (trimmed) as `${variable}`. */
  | { kind: 'capture'; title: string; variable: string; args: string[] }
  /** Finds a resource by a listing (its name or nothing) and keeps it as `${variable}`; creates it when absent. */
  | { kind: 'find-or-create'; title: string; variable: string; find: string[]; create: string[] }
  /** Finds by a listing like find-or-create; updates the one found, else creates. */
  | { kind: 'upsert'; title: string; variable: string; find: string[]; create: string[]; update: string[] }
  /** Writes a file in the deploy's scratch directory (`${DEPLOY_DIR}`). */
  | { kind: 'file'; title: string; name: string; content: string }
  /** Deletes the listed resources whose names start with `prefix` but are not in `keep`. */
  | { kind: 'prune'; title: string; list: string[]; prefix: string; keep: string[]; remove: string[] };

export interface DeployPlanText {
  /** Lines printed as comments at the top: what was derived, and why. */
  header: string[];
  steps: Step[];
  /** Things the operator must know or do by hand. */
  notes: string[];
}

/** `${NAME}` placeholders in an argument. */
export const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}/g;

export function substitute(arg: string, values: Readonly<Record<string, string>>): string {
  return arg.replace(PLACEHOLDER, (whole, name: string) => values[name] ?? whole);
}

/** One argument as a POSIX shell word: bare when safe, in single quotes, or in double quotes around placeholders. */
export function shellWord(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  if (!/\$\{[A-Z][A-Z0-9_]*\}/.test(arg)) return `'${arg.replace(/'/g, `'\\''`)}'`;
  // Placeholders expand; every other character is literal.
  const parts = arg.split(/(\$\{[A-Z][A-Z0-9_]*\})/);
  return `"${parts.map((p, i) => (i % 2 === 1 ? p : p.replace(/[\\"$`]/g, '\\$&'))).join('')}"`;
}

export function shellCommand(args: readonly string[]): string {
  return ['gcloud', ...args].map(shellWord).join(' ');
}
