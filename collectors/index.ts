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
 * A collector that stands for `load()`'s, whose module is loaded only when more than its name is asked:
 * every other property, `in` and the keys are the loaded collector's own.
 */
function lazyCollector(name: string, load: () => Collector<unknown>): Collector<unknown> {
  let loaded: Collector<unknown> | null = null;
  const real = (): Collector<unknown> => (loaded ??= load());
  return new Proxy({ name } as Collector<unknown>, {
    get: (_target, key) => (key === 'name' ? name : Reflect.get(real(), key)),
    has: (_target, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_target, key) => Reflect.getOwnPropertyDescriptor(real(), key),
  });
}
