/**
 * The fast config read (js-yaml, fast-parse.ts) against the careful one (the yaml Document), on configs
 * drawn from a seeded random source: the same value whenever the fast read answers; and on those
 * configs damaged at random (a character dropped, doubled or replaced, a line re-indented or repeated),
 * parseConfig gives the same Config or fails with the same problems, lines included, as the careful
 * path alone. The same seed gives the same files on every run; a failure prints the file.
 */
import { parseDocument } from 'yaml';
import { builtinCollectors } from '../../collectors';
import { ConfigError } from '../../src/config/errors';
import { fastParse } from '../../src/config/fast-parse';
import { interpolate } from '../../src/config/interpolate';
import { parseConfig, parseConfigCarefully } from '../../src/config/load';
import { seededRandom } from '../support/seeded-random';

const SEED = 15;
const FILES = 150;
const DAMAGES = 4;
const ENV = { PROJECT: 'acme-data', REGION: 'europe-west1', PORT: '512', EMPTY: '' };
const OPTIONS = { collectors: builtinCollectors() };

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const SCALARS = [
  '1',
  '0',
  '300',
  '1_000',
  '0x1F',
  '1e3',
  '.5',
  '-2',
  'true',
  'false',
  'yes',
  'off',
  '~',
  'null',
  '""',
  "''",
  'plain text',
  '"quoted: with colon"',
  "'single ''quoted'''",
  '"a\\u00e9\\x41"',
  '2026-01-01',
  '12:30',
  '"*/15 * * * *"',
  '"0 2 * * *"',
  'https://x.example/p?q=1&r=2',
  '"${PROJECT}-bucket"',
  '${REGION}',
  "'${UNSET:-fallback}'",
  '$${NOT_A_VAR}',
  '${PORT}',
  '[1, two, "three"]',
  '{ a: 1, b: [x, y] }',
];

const COLLECTOR_KEYS = [
  'schedule: "*/15 * * * *"',
  'schedule: "0 2 * * *"',
  'enabled: false',
  'timeout_seconds: 120',
  'group: g1',
  'description: a collector',
  'retry: { attempts: 2 }',
  'queue: q-1',
];

/** A config of a few collectors with settings, options of every scalar kind, comments and blank lines. */
function randomConfig(random: Random): string {
  const lines = [
    '# generated',
    'timezone: Europe/Paris',
    `storage: { reports: ./var/reports, raw: ./var/raw, state: ./var/state }`,
    'scheduler:',
    `  max_concurrent_collectors: ${pick(random, ['10', '200', '${PORT}'])}`,
    '  deadline_seconds: 600',
    'collectors:',
  ];
  const count = 1 + Math.floor(random() * 6);
  for (let i = 0; i < count; i++) {
    const flow = random() < 0.3;
    const settings = [`url: "http://127.0.0.1:9/c${i}"`];
    for (const key of COLLECTOR_KEYS) if (random() < 0.3) settings.push(key);
    if (flow) {
      lines.push(`  c${i}: { ${settings.join(', ')} }`);
      continue;
    }
    lines.push(`  c${i}:`, ...settings.map((s) => `    ${s}`));
    if (random() < 0.6) {
      lines.push('    options:');
      const n = 1 + Math.floor(random() * 4);
      for (let k = 0; k < n; k++) {
        if (random() < 0.2) lines.push(`      # option ${k}`);
        if (random() < 0.15) lines.push(`      block${k}: |`, '        line one', '        line two');
        else lines.push(`      k${k}: ${pick(random, SCALARS)}`);
      }
    }
    if (random() < 0.2) lines.push('');
  }
  return lines.join('\n') + '\n';
}

/** The file damaged once: a character dropped, doubled or replaced, or a line re-indented or repeated. */
function damage(random: Random, text: string): string {
  const at = Math.floor(random() * text.length);
  const lines = text.split('\n');
  const line = Math.floor(random() * (lines.length - 1));
  switch (Math.floor(random() * 6)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1);
    case 1:
      return text.slice(0, at) + text[at] + text.slice(at);
    case 2:
      return (
        text.slice(0, at) +
        pick(random, [':', '"', '[', '{', ' ', '-', '#', '&', '*', '\t']) +
        text.slice(at + 1)
      );
    case 3:
      lines[line] = ` ${lines[line]}`;
      return lines.join('\n');
    case 4:
      lines.splice(line, 0, lines[line]!);
      return lines.join('\n');
    default:
      lines[line] = lines[line]!.replace(/^ {2}/, '');
      return lines.join('\n');
  }
}

function carefulValue(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: false });
  interpolate(doc, ENV);
  return doc.toJS({ maxAliasCount: -1 }) ?? {};
}

/** The outcome of a parse: the Config, or the error's code and message (problems with their lines). */
function outcome(parse: () => unknown): unknown {
  try {
    return { config: parse() };
  } catch (error) {
    return {
      error: error instanceof ConfigError ? 'ConfigError' : (error as Error).name,
      message: (error as Error).message,
    };
  }
}

describe('the fast config read against the careful one, on seeded random configs', () => {
  const random = seededRandom(SEED);
  const files = Array.from({ length: FILES }, () => randomConfig(random));
  const damaged = files.flatMap((f) => Array.from({ length: DAMAGES }, () => damage(random, f)));

  it(`${FILES} files: the fast read, when it answers, reads what the careful one reads`, () => {
    let answered = 0;
    for (const text of files) {
      const fast = fastParse(text, ENV);
      if (!fast) continue;
      answered++;
      expect({ text, value: fast.input }).toEqual({ text, value: carefulValue(text) });
    }
    // Many take the fast read (the others hold what it leaves to the careful one: a typed ${PORT}, ...).
    expect(answered).toBeGreaterThan(FILES / 4);
  });

  it(`${FILES} files and ${FILES * DAMAGES} damaged ones: the same Config or the same errors, lines included`, () => {
    let failed = 0;
    for (const text of [...files, ...damaged]) {
      const either = outcome(() => parseConfig(text, 'config.yaml', ENV, OPTIONS));
      const careful = outcome(() => parseConfigCarefully(text, 'config.yaml', ENV, OPTIONS));
      expect({ text, either }).toEqual({ text, either: careful });
      if ('error' in (careful as object)) failed++;
    }
    // The damage is not all harmless, nor all fatal: both paths are exercised.
    expect(failed).toBeGreaterThan(FILES / 2);
    expect(failed).toBeLessThan(FILES * (DAMAGES + 1));
  });
});
