import type * as v from 'valibot';
import { isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import { describeIssue } from '../util/issues';
import type { ConfigProblem } from './errors';
import { configSchema } from './schema';

/** Where in the file a problem is: key paths to lines, through the careful path's yaml Document. */

type Issue = v.InferIssue<typeof configSchema>;

export function describeConfigIssue(
  issue: Issue,
  doc: Document,
  lineOf: (offset: number | undefined) => number | null,
): ConfigProblem {
  const keys = (issue.path ?? []).map((p) => String(p.key));
  const last = issue.path?.[issue.path.length - 1];
  const allowed = last?.origin === 'key' ? allowedKeys(keys.slice(0, -1)) : [];
  const problem = describeIssue(issue, { allowed });
  return {
    path: problem.field === 'body' ? '' : problem.field,
    line: lineOf(locate(doc, keys)),
    message: problem.message,
  };
}

type AnySchema = {
  type: string;
  entries?: Record<string, AnySchema>;
  wrapped?: AnySchema;
  value?: AnySchema;
  pipe?: AnySchema[];
};

/** The keys the schema allows at `keys`, for "did you mean". */
function allowedKeys(keys: string[]): string[] {
  let schema: AnySchema | undefined = configSchema as unknown as AnySchema;
  const unwrap = (s: AnySchema | undefined) => {
    while (s?.wrapped) s = s.wrapped;
    return s;
  };
  for (const key of keys) {
    schema = unwrap(schema);
    if (!schema) return [];
    schema = schema.entries ? schema.entries[key] : schema.value;
  }
  schema = unwrap(schema);
  return Object.keys(schema?.entries ?? {});
}

/** The source offset of the deepest node on `keys` that exists (the key itself where possible). */
export function locate(doc: Document, keys: string[]): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined = (doc.contents as Node | null)?.range?.[0];
  for (const key of keys) {
    if (isSeq(node) && /^\d+$/.test(key)) {
      const item = node.items[Number(key)] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
      continue;
    }
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (!pair) break;
    offset = (pair.key as Node).range?.[0] ?? offset;
    node = pair.value;
  }
  return offset;
}

/** The key path of a node, found by walking the document (only used for the rare interpolation error). */
export function pathOfNode(doc: Document, target: Node): string | null {
  const search = (node: unknown, trail: string[]): string | null => {
    if (node === target) return trail.join('.');
    if (isMap(node)) {
      for (const pair of node.items) {
        const found = search(pair.value, [...trail, String(isScalar(pair.key) ? pair.key.value : pair.key)]);
        if (found !== null) return found;
      }
    } else if (
      node &&
      typeof node === 'object' &&
      'items' in node &&
      Array.isArray((node as { items: unknown[] }).items)
    ) {
      const items = (node as { items: unknown[] }).items;
      for (let i = 0; i < items.length; i++) {
        const found = search(items[i], [...trail, String(i)]);
        if (found !== null) return found;
      }
    }
    return null;
  };
  return search(doc.contents, []);
}
