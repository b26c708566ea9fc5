import { isAlias, isCollection, isPair, type Alias, type Document, type Node } from 'yaml';

/**
 * A config file expands to at most this many nodes once its aliases are followed. A real config is a
 * few hundred; the "billion laughs" file (nine aliases of nine aliases, seven deep) is millions.
 * @default 10_000
 */
export const MAX_EXPANDED_NODES = 10_000;

export interface AliasProblem {
  /** The alias at fault, for its line. */
  node: Alias;
  message: string;
}

/**
 * YAML aliases that cannot become a config: one inside the node it names (a cycle, which would make
 * the config a circular object), and aliases that together expand the document past
 * MAX_EXPANDED_NODES (an alias bomb). Checked on the parsed document, before anything is expanded.
 */
export function checkAliases(doc: Document): AliasProblem[] {
  const problems: AliasProblem[] = [];
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  const largest: { alias: Alias | null; size: number } = { alias: null, size: 0 };

  // Memoised per node, so the walk is linear in the document as written, whatever the expansion.
  const size = (node: unknown): number => {
    const known = sizes.get(node);
    if (known !== undefined) return known;
    if (open.has(node)) return Infinity;
    open.add(node);
    let total = 1;
    if (isAlias(node)) {
      const target = node.resolve(doc);
      total = target === undefined ? 1 : size(target);
      if (total === Infinity && !problems.some((p) => p.node === node)) {
        problems.push({
          node,
          message: `alias *${node.source} refers to a node that contains it (a cycle); write the value out instead`,
        });
      }
      if (total !== Infinity && total > largest.size) Object.assign(largest, { alias: node, size: total });
    } else if (isCollection(node)) {
      for (const item of node.items) {
        if (isPair(item)) total += size(item.key) + size(item.value);
        else total += size(item);
      }
    }
    open.delete(node);
    // A cycle below makes every node on the way infinite, but it is reported once, at its alias.
    sizes.set(node, total);
    return total;
  };

  const total = size(doc.contents as Node | null);
  const alias = largest.alias;
  if (problems.length === 0 && total > MAX_EXPANDED_NODES && alias !== null) {
    problems.push({
      node: alias,
      message: `aliases expand the file to more than ${MAX_EXPANDED_NODES} values (alias *${alias.source} alone to ${largest.size}): an alias bomb? Write the values out, or use fewer aliases of aliases`,
    });
  }
  return problems;
}
