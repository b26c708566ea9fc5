import { isMap, isScalar, visit, type Document, type Node } from 'yaml';

/**
 * The keys written twice in one mapping. The yaml library's own `uniqueKeys` check compares each new
 * key with every earlier one of its map: at 5,000 collectors that is 12.5 million comparisons, most of
 * the config's load time. A set per map finds the same keys in one pass.
 */
export function duplicateKeys(doc: Document): Node[] {
  const found: Node[] = [];
  visit(doc, {
    Map(_, map) {
      if (!isMap(map)) return;
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key)) continue;
        // Like the library: keys are equal when their values are (1 and "1" are not).
        const id = `${typeof key.value}:${String(key.value)}`;
        if (seen.has(id)) found.push(key);
        else seen.add(id);
      }
    },
  });
  return found;
}
