import { visit, type Document, type Scalar } from 'yaml';

export interface InterpolationProblem {
  node: Scalar;
  message: string;
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
): InterpolationProblem[] {
  const problems: InterpolationProblem[] = [];
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const source = node.value;
      let missing: string | null = null;
      const replaced = source.replace(
        REFERENCE,
        (match, name: string | undefined, fallback: string | undefined) => {
          if (match === '$$') return '$';
          const value = env[name!];
          // As in the shell: `:-` also replaces an empty value; a bare ${VAR} may be empty.
          if (value !== undefined && (value !== '' || fallback === undefined)) return value;
          if (fallback !== undefined) return fallback;
          missing ??= name!;
          return match;
        },
      );
      if (missing !== null) {
        problems.push({
          node,
          message: `environment variable ${missing} is not set (write \${${missing}:-default} to give a default)`,
        });
        return;
      }
      node.value = node.type === 'PLAIN' && replaced !== source ? retype(replaced) : replaced;
    },
  });
  return problems;
}

function retype(text: string): unknown {
  const t = text.trim();
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (/^(true|false)$/i.test(t)) return t.toLowerCase() === 'true';
  if (/^(null|~)?$/i.test(t)) return null;
  return text;
}
