import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { fastParse } from '../../src/config/fast-parse';
import { interpolate } from '../../src/config/interpolate';
import { parseConfig } from '../../src/config/load';
import { builtinCollectors } from '../../collectors';

const root = path.resolve(__dirname, '../..');
const ENV = {
  PROJECT: 'acme-data',
  REGION: 'europe-west1',
  EMPTY: '',
  PORT: '512',
  FLAG: 'true',
  // The default file's state store is `${SCHEDULER_STATE:-}`: unset, a plain empty scalar is null, which
  // only the careful path can tell (a quoted one would be "").
  SCHEDULER_STATE: './var/state',
};

/** The careful path's value: the yaml Document, interpolated, as JS (what load.ts falls back to). */
function carefulValue(text: string, env: Record<string, string>): unknown {
  const doc = parseDocument(text, { uniqueKeys: false });
  interpolate(doc, env);
  return doc.toJS({ maxAliasCount: -1 }) ?? {};
}

const scalars = [
  'a: 1_000',
  'a: 0x1F',
  'a: 0o17',
  'a: 017',
  'a: +12',
  'a: -0',
  'a: -.0',
  'a: -0.0',
  'a: 1e3',
  'a: .5',
  'a: .inf',
  'a: -.Inf',
  'a: .NaN',
  'a: ~',
  'a:',
  'a: True',
  'a: yes',
  'a: off',
  'a: 2026-01-01',
  'a: 12:30',
  'a: "a\\u00e9\\x41"',
  "a: 'it''s'",
  'a: !!str 12',
  'a: |\n  line one\n  line two\n',
  'a: >-\n  folded\n  text\n\n  para\n',
  'a: [1, "two", {b: 3}]',
  'a: "*/15 * * * *"',
  'a: https://x.example/p?q=1&r=2#f',
  'a: "${PROJECT}-bucket"',
  'a: ${PROJECT}',
  "a: '${REGION:-us-central1}'",
  'a: $${NOT_A_VAR}',
  'a: "${UNSET:-fallback} and $$"',
];

describe('the fast config read agrees with the careful one', () => {
  it.each([['config/config.yaml'], ['tests/deploy/fixtures/original.yaml']])(
    '%s reads to the same value',
    (file) => {
      const text = readFileSync(path.join(root, file), 'utf8');
      const fast = fastParse(text, ENV);
      expect(fast).not.toBeNull();
      expect(fast!.input).toEqual(carefulValue(text, ENV));
    },
  );

  it.each(scalars)('%j reads the same, or is left to the careful path', (text) => {
    const fast = fastParse(text, ENV);
    if (fast) expect(fast.input).toEqual(carefulValue(text, ENV));
  });

  it.each([
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['an alias', 'x: &x [1]\ny: *x\n'],
    ['an alias bomb', 'a: &a [1, 1]\nb: &b [*a, *a]\nc: [*b, *b]\n'],
    ['a missing variable', 'a: ${UNSET}\n'],
    ['a set but empty variable', 'a: ${EMPTY}\n'],
    ['a substitution that types a plain scalar', 'a: ${PORT}\n'],
    ['a boolean substitution', 'a: ${FLAG}\n'],
    ['a binary number', 'a: 0b101\n'],
    ['a signed hex number', 'a: -0x1\n'],
    ['negative zero', 'a: -0\n'],
    ['an empty default, null when plain', 'a: ${UNSET:-}\n'],
    ['invalid YAML', 'a: [unclosed\n'],
  ])('leaves %s to the careful path', (_, text) => {
    expect(fastParse(text, ENV)).toBeNull();
  });

  it('loads a file with a typed substitution the careful way (512 a number)', () => {
    const config = parseConfig(
      'scheduler:\n  max_concurrent_collectors: ${PORT}\ncollectors: {}\n',
      'config.yaml',
      ENV,
    );
    expect(config.scheduler.maxConcurrentCollectors).toBe(512);
  });

  it('a problem found after the fast read is reported with its line, as before', () => {
    expect(() =>
      parseConfig(
        'collectors:\n  dvf:\n    shedule: "0 2 * * *"\n',
        'config.yaml',
        {},
        {
          collectors: builtinCollectors(),
        },
      ),
    ).toThrow(/config\.yaml:3 collectors\.dvf\.shedule: unknown key; did you mean "schedule"\?/);
  });
});
