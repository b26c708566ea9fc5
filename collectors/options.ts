import * as v from 'valibot';
import { PermanentError } from '../src/runtime/errors';
import { describeIssue, problemText } from '../src/util/issues';

/** One problem with a collector's options: the path below `options` and what is wrong. */
export interface OptionIssue {
  path: string[];
  message: string;
}

/**
 * Validates a collector's options; problems name the option (`options.departements.0: ...`). The
 * error's `details.issues` keeps each problem's path, so the config loader can name the key and line.
 */
export function parseOptions<S extends v.GenericSchema>(schema: S, raw: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, raw ?? {}, { abortEarly: false });
  if (result.success) return result.output;
  const allowed = 'entries' in schema ? Object.keys((schema as { entries: object }).entries) : [];
  const issues = result.issues.map((i) => {
    const problem = describeIssue(i, { allowed: nestedAllowed(schema, i) ?? allowed, noun: 'option' });
    return { path: (i.path ?? []).map((p) => String(p.key)), message: problem.message };
  });
  throw optionsError(issues);
}

/** The error for problems found by a collector's own checks (those the schema cannot express). */
export function optionsError(issues: OptionIssue[]): PermanentError {
  const problems = issues.map((i) =>
    problemText({ field: ['options', ...i.path].join('.'), kind: 'invalid', message: i.message }),
  );
  return new PermanentError(problems.join('; '), { details: { problems, issues } });
}

/** The keys allowed where an unknown nested option was found (e.g. inside `console`), for "did you mean". */
function nestedAllowed(schema: v.GenericSchema, issue: v.BaseIssue<unknown>): string[] | null {
  const keys = (issue.path ?? []).map((p) => String(p.key));
  if (keys.length < 2) return null;
  let node: unknown = schema;
  for (const key of keys.slice(0, -1)) {
    while (node && typeof node === 'object' && 'wrapped' in node)
      node = (node as { wrapped: unknown }).wrapped;
    const entries = (node as { entries?: Record<string, unknown> } | null)?.entries;
    if (!entries) return null;
    node = entries[key];
  }
  while (node && typeof node === 'object' && 'wrapped' in node) node = (node as { wrapped: unknown }).wrapped;
  const entries = (node as { entries?: Record<string, unknown> } | null)?.entries;
  return entries ? Object.keys(entries) : null;
}

/** An http(s) URL: `file:`, `javascript:`, `data:` and the like are refused (they are no upstream). */
export const httpUrl = v.pipe(
  v.string(),
  v.check((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'is not an http(s) URL'),
);

/** The départements of the COG: 01–95 (no 20: Corsica is 2A and 2B), 971–976. */
export const DEPARTEMENT = /^(0[1-9]|1\d|2[1-9]|[3-8]\d|9[0-5]|2A|2B|97[1-6])$/;

export const departementCode = v.pipe(
  v.string(),
  v.check(
    (s) => DEPARTEMENT.test(s),
    (issue) => `${JSON.stringify(issue.input)} is not a département (01-95 but no 20, 2A, 2B, 971-976)`,
  ),
);

/** Every département code, in order (what `departements: all` means when no listing is asked for). */
export const ALL_DEPARTEMENTS: readonly string[] = [
  ...Array.from({ length: 95 }, (_, i) => String(i + 1).padStart(2, '0')).filter((d) => d !== '20'),
  '2A',
  '2B',
  '971',
  '972',
  '973',
  '974',
  '976',
];

/** A whole number between `min` and `max`, with messages that say so. */
export function wholeNumber(min: number, max: number, unit = '') {
  const suffix = unit ? ` ${unit}` : '';
  return v.pipe(
    v.number(),
    v.integer('must be a whole number'),
    v.minValue(min, `must be at least ${min}${suffix}`),
    v.maxValue(max, `must be at most ${max}${suffix}`),
  );
}
