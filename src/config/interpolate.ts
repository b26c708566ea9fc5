import type { Document, Scalar } from 'yaml';

export interface InterpolationProblem {
  node: Scalar;
  message: string;
}

/** A scalar that used a bare `${VAR}` whose variable is set but empty. */
export interface EmptyReference {
  node: Scalar;
  variables: string[];
}

const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every scalar value of the document with values from `env`
 * (`$$` writes a literal `$`). A plain (unquoted) scalar that was a reference is re-typed after
 * substitution, so `max_concurrent_collectors: ${MAX:-4}` is the number 4, as it would be if written
 * literally. Works on the parsed document so line numbers stay available for errors.
 */
export function interpolate(
  doc: Document,
  env: Readonly<Record<string, string | undefined>>,
): { problems: InterpolationProblem[]; empty: EmptyReference[] } {
  const problems: InterpolationProblem[] = [];
  const empty: EmptyReference[] = [];
  // Loaded here, on the careful path only: the fast path (fast-parse.ts) uses substitute and retype,
  // and loading the yaml library cost a run of 5,000 collectors 30 ms of start-up.
  const { visit } = require('yaml') as typeof import('yaml');
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const source = node.value;
      const { replaced, missing, emptied } = substitute(source, env);
      if (missing !== null) {
        problems.push({
          node,
          message: `environment variable ${missing} is not set (write \${${missing}:-default} to give a default)`,
        });
        return;
      }
      if (emptied.length > 0) empty.push({ node, variables: emptied });
      node.value = node.type === 'PLAIN' && replaced !== source ? retype(replaced) : replaced;
    },
  });
  return { problems, empty };
}

/**
 * `${VAR}` and `${VAR:-default}` in one value replaced from `env`, `$$` written as `$`; `missing` names
 * the first unset variable without a default, `emptied` the set-but-empty ones used bare.
 */
export function substitute(
  source: string,
  env: Readonly<Record<string, string | undefined>>,
): { replaced: string; missing: string | null; emptied: string[] } {
  let missing: string | null = null;
  const emptied: string[] = [];
  const replaced = source.replace(
    REFERENCE,
    (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      const value = env[name!];
      // As in the shell: `:-` also replaces an empty value; a bare ${VAR} may be empty (the
      // caller decides where an empty value is a mistake, e.g. a collector's url).
      if (value === '' && fallback === undefined) emptied.push(name!);
      if (value !== undefined && (value !== '' || fallback === undefined)) return value;
      if (fallback !== undefined) return fallback;
      missing ??= name!;
      return match;
    },
  );
  return { replaced, missing, emptied };
}

/** What a plain scalar reads as once substituted (a number, a boolean, null), as if written so. */
export function retype(text: string): unknown {
  const t = text.trim();
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (/^(true|false)$/i.test(t)) return t.toLowerCase() === 'true';
  if (/^(null|~)?$/i.test(t)) return null;
  return text;
}
