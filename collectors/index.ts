import type { Collector } from '../src/runtime/contract';

/**
 * Each built-in collector's module, loaded the first time something of it other than its name is used:
 * a config whose collectors are all remote (URLs) never loads them, and the five modules (their
 * upstream clients, streaming and parsing) were 60 ms of every command's start-up.
 */
const BUILTIN: readonly (readonly [string, () => Collector<unknown>])[] = [
  [
    'insee-contours',
    () =>
      (require('./insee-contours') as typeof import('./insee-contours')).inseeContours as Collector<unknown>,
  ],
  ['dvf', () => (require('./dvf') as typeof import('./dvf')).dvf as Collector<unknown>],
  ['sirene', () => (require('./sirene') as typeof import('./sirene')).sirene as Collector<unknown>],
  ['plu', () => (require('./plu') as typeof import('./plu')).plu as Collector<unknown>],
  ['xmp', () => (require('./xmp') as typeof import('./xmp')).xmp as Collector<unknown>],
];

/** The collectors shipped in this repository. */
export function builtinCollectors(): Collector<unknown>[] {
  return BUILTIN.map(([name, load]) => lazyCollector(name, load));
}

/**
 * A collector that stands for `load()`'s, whose module is loaded only when more than its name is used.
 * (The name is a plain property: the config loader looks names up thousands of times.)
 */
function lazyCollector(name: string, load: () => Collector<unknown>): Collector<unknown> {
  let loaded: Collector<unknown> | null = null;
  const real = (): Collector<unknown> => (loaded ??= load());
  return {
    name,
    get description() {
      return real().description;
    },
    parseOptions: (raw) => real().parseOptions(raw),
    // Optional members: undefined, as on the collector itself, when it has none.
    get legacyOptions() {
      return real().legacyOptions;
    },
    run: (ctx) => real().run(ctx),
    get shards() {
      return real().shards;
    },
  } as Collector<unknown>;
}
