import { CORE_SCHEMA, load } from 'js-yaml';
import { retype, substitute } from './interpolate';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Numbers the two libraries read differently: binary, signed hex and octal (strings for the yaml
 * library), and negative zero (0 for js-yaml). A file holding anything like them anywhere, quoted or
 * not, takes the careful path.
 */
const READ_DIFFERENTLY = /0[bB][01]|[-+]0[xXoO]|-\.?0(?![0-9xXoObB]|\.\d)/;

/**
 * The config file's value, interpolated, read by js-yaml: 5 to 10 times faster than the yaml library's
 * Document (which keeps a source position for every node), the difference between 40 ms and 400 ms at
 * 5,000 collectors. Null whenever only the careful path (load.ts, the yaml Document) may decide: a
 * syntax error or a duplicate key, an anchor shared by two nodes (aliases are checked for cycles and
 * bombs there), a missing or empty variable, a substitution whose type depends on the scalar being
 * plain or quoted. On the values it returns, both libraries agree (YAML 1.2 core schema; see
 * tests/config/fast-parse.test.ts), so a file that passes here loads to the same Config, only sooner;
 * any problem found after it sends the file to the careful path too, for the lines in its error.
 */
export function fastParse(text: string, env: Env): { input: unknown } | null {
  if (READ_DIFFERENTLY.test(text)) return null;
  let value: unknown;
  try {
    value = load(text, { schema: CORE_SCHEMA });
  } catch {
    return null;
  }
  const seen = new Set<object>();
  let ok = true;
  const walk = (node: unknown): unknown => {
    if (!ok) return node;
    if (typeof node === 'string') return node.includes('$') ? interpolated(node) : node;
    if (node === null || typeof node !== 'object') return node;
    // The same object twice is an alias (or a cycle): the careful path bounds and reports those.
    if (seen.has(node)) {
      ok = false;
      return node;
    }
    seen.add(node);
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) node[i] = walk(node[i]);
    } else {
      const record = node as Record<string, unknown>;
      for (const key of Object.keys(record)) record[key] = walk(record[key]);
    }
    return node;
  };
  const interpolated = (source: string): string => {
    const { replaced, missing, emptied } = substitute(source, env);
    // Errors and warnings need a line; a value that would be re-typed if plain needs the scalar's style.
    if (missing !== null || emptied.length > 0) ok = false;
    else if (replaced !== source && retype(replaced) !== replaced) ok = false;
    return replaced;
  };
  const input = walk(value ?? {});
  return ok ? { input } : null;
}
