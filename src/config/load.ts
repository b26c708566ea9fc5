import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as v from 'valibot';
import type { Document } from 'yaml';
import { applyCollectorOptions, type CollectorOptionsSpec } from './collector-options';
import { SchedulerError } from '../errors';
import { ConfigError, type ConfigProblem } from './errors';
import { parseLocation } from '../store/location';
import { fastParse } from './fast-parse';
import { interpolate } from './interpolate';
import { normalise } from './normalise';
import { configSchema, type RawConfig } from './schema';
import { closest } from '../util/suggest';
import type { Config } from './types';

export const DEFAULT_CONFIG_FILE = 'config/config.yaml';

type Env = Readonly<Record<string, string | undefined>>;

/** Which file to load: the CLI's --config, else $SCHEDULER_CONFIG, else config/config.yaml. */
export function configPath(
  explicit: string | undefined,
  env: Env = process.env,
  cwd: string = process.cwd(),
): string {
  return path.resolve(cwd, explicit ?? env['SCHEDULER_CONFIG'] ?? DEFAULT_CONFIG_FILE);
}

export interface ParseOptions {
  /** Collectors this process can serve itself; a configured collector with no URL must be one of them. */
  builtinCollectors?: readonly string[];
  /**
   * The built-in collectors' option parsers: the options of every entry that runs one are checked at
   * load (with the original layout's `data_sources` merged in), and its names count as built in.
   */
  collectors?: readonly CollectorOptionsSpec[];
  /**
   * The deployed service's name ($K_SERVICE on Cloud Functions and Cloud Run), when this is a deployed
   * instance: its state store must then be shared (gs://), never the instance's own disk.
   */
  deployedAs?: string | undefined;
}

export async function loadConfig(
  file: string,
  env: Env = process.env,
  options: ParseOptions = {},
): Promise<Config> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (cause) {
    const why =
      (cause as { code?: string }).code === 'ENOENT'
        ? 'does not exist'
        : `cannot be read (${(cause as Error).message})`;
    throw new SchedulerError(
      'CONFIG_NOT_FOUND',
      `config file ${file} ${why}; pass --config or set SCHEDULER_CONFIG`,
      { cause },
    );
  }
  const relative = path.relative(process.cwd(), file);
  return parseConfig(text, relative && !relative.startsWith('..') ? relative : file, env, options);
}

/** Parses, interpolates, validates and normalises one config text into a frozen Config. */
export function parseConfig(
  text: string,
  source: string,
  env: Env = process.env,
  options: ParseOptions = {},
): Config {
  // Most files are read in a tenth of the time by js-yaml (fast-parse.ts); at any doubt or problem the
  // careful path reads the file again, with every node's line for the error.
  const fast = fastParse(text, env);
  const config = fast && checkInput(fast.input, source, options, null);
  return config ?? parseConfigCarefully(text, source, env, options);
}

/** The careful path alone (the yaml Document, every line kept): what parseConfig must always agree with. */
export function parseConfigCarefully(
  text: string,
  source: string,
  env: Env = process.env,
  options: ParseOptions = {},
): Config {
  const careful = readDocument(text, source, env);
  return checkInput(careful.input, source, options, careful.where)!;
}

/** Where the careful path found things: the document and its lines. */
interface Located {
  doc: Document;
  lineOf(offset: number | undefined): number | null;
}

/** The careful path: the yaml Document (positions kept), its aliases bounded, interpolated, as JS. */
function readDocument(text: string, source: string, env: Env): { input: unknown; where: Located } {
  // The careful path's modules load when it first runs: the yaml library alone was 30 ms of every
  // command's start-up, for files the fast path reads without it.
  const { LineCounter, parseDocument } = require('yaml') as typeof import('yaml');
  const { checkAliases } = require('./aliases') as typeof import('./aliases');
  const { duplicateKeys } = require('./unique-keys') as typeof import('./unique-keys');
  const { pathOfNode } = require('./locate') as typeof import('./locate');
  const lineCounter = new LineCounter();
  // Duplicate keys are found below, in one pass (unique-keys.ts), rather than by the library.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const lineOf = (offset: number | undefined) =>
    offset === undefined ? null : lineCounter.linePos(offset).line;

  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({
        path: '',
        line: lineOf(e.pos[0]),
        message: `is not valid YAML: ${e.message.split('\n')[0]}`,
      })),
    );
  }

  const duplicates = duplicateKeys(doc);
  if (duplicates.length > 0) {
    throw new ConfigError(
      source,
      duplicates.map((key) => ({
        path: '',
        line: lineOf(key.range?.[0]),
        message: `is not valid YAML: Map keys must be unique (${JSON.stringify(String((key as { value?: unknown }).value))} is written twice in this mapping)`,
      })),
    );
  }

  const aliasProblems = checkAliases(doc);
  if (aliasProblems.length > 0) {
    throw new ConfigError(
      source,
      aliasProblems.map((p) => ({ path: '', line: lineOf(p.node.range?.[0]), message: p.message })),
    );
  }

  const interpolated = interpolate(doc, env);
  const problems: ConfigProblem[] = [
    ...interpolated.problems.map((p) => ({
      path: pathOfNode(doc, p.node) ?? '',
      line: lineOf(p.node.range?.[0]),
      message: p.message,
    })),
    ...interpolated.empty.flatMap((e) => {
      const keyPath = pathOfNode(doc, e.node) ?? '';
      const why = emptyReferenceProblem(keyPath, e.variables);
      return why ? [{ path: keyPath, line: lineOf(e.node.range?.[0]), message: why }] : [];
    }),
  ];
  if (problems.length > 0) throw new ConfigError(source, problems);

  try {
    // Aliases were bounded above, so the library's own alias limit would only refuse valid files.
    return { input: doc.toJS({ maxAliasCount: -1 }) ?? {}, where: { doc, lineOf } };
  } catch (error) {
    throw new ConfigError(source, [
      { path: '', line: null, message: `cannot be read: ${(error as Error).message}` },
    ]);
  }
}

/**
 * Validates and normalises the file's value. On the fast path (`where` null) any problem answers null,
 * so that the careful path reads the file again and names lines; on the careful path it throws the
 * ConfigError, with lines from the document it read.
 */
function checkInput(
  input: unknown,
  source: string,
  options: ParseOptions,
  where: Located | null,
): Config | null {
  const lineOf = (offset: number | undefined) => where?.lineOf(offset) ?? null;
  // Only the careful path names lines, and it has loaded the yaml library already.
  const locating = where ? (require('./locate') as typeof import('./locate')) : null;
  const fail = (problems: ConfigProblem[]): null => {
    if (where) throw new ConfigError(source, problems);
    return null;
  };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail([
      { path: '', line: 1, message: 'must be a YAML mapping (key: value pairs) at the top level' },
    ]);
  }

  const result = v.safeParse(configSchema, input, { abortEarly: false });
  if (!result.success) {
    return fail(
      result.issues.map((issue) =>
        where && locating
          ? locating.describeConfigIssue(issue, where.doc, lineOf)
          : { path: '', line: null, message: '' },
      ),
    );
  }

  const crossProblems: ConfigProblem[] = [];
  const complain = (keyPath: string, message: string) => {
    const line = where && locating ? lineOf(locating.locate(where.doc, keyPath.split('.'))) : null;
    crossProblems.push({ path: keyPath, line, message });
  };
  const raw = result.output as RawConfig;
  let config = normalise(raw, source, complain);
  const collectorsSection = raw.collectors ? 'collectors' : 'scheduler.collectors';
  if (options.collectors) {
    const applied = applyCollectorOptions(
      config.collectors,
      raw.data_sources,
      options.collectors,
      collectorsSection,
      complain,
    );
    config = { ...config, collectors: applied.collectors, ignored: [...config.ignored, ...applied.ignored] };
  }
  const builtinNames = options.builtinCollectors ?? options.collectors?.map((c) => c.name);
  if (builtinNames) {
    const builtins = builtinNames;
    const section = collectorsSection;
    for (const c of config.collectors.filter((c) => c.url === null && !builtins.includes(c.implementation))) {
      const s = closest(c.implementation, builtins);
      const alias = c.implementation !== c.name;
      complain(
        `${section}.${c.name}${alias ? '.collector' : ''}`,
        `${alias ? `runs collector "${c.implementation}", which is not built in,` : 'is not a built-in collector'}${s ? ` (did you mean "${s}"?)` : ''} and has no url; built in: ${builtins.join(', ')}${alias ? '' : '; for another job of one of them, add collector: <name>'}`,
      );
    }
  }
  if (options.deployedAs && isLocalPath(config.storage.state)) {
    const explicit = (result.output as RawConfig).storage?.state;
    complain(
      explicit ? 'storage.state' : 'storage',
      `the state store is ${config.storage.state}, a local path, but this is a deployed instance (K_SERVICE=${options.deployedAs}): each instance has its own disk, so tick claims, group leases and shared tokens would not be shared and a tick could run twice. Set storage.state (or storage.reports, which it defaults beside) to a gs:// URI`,
    );
  }
  if (crossProblems.length > 0) return fail(crossProblems);
  return deepFreeze(config);
}

function isLocalPath(uri: string): boolean {
  try {
    return parseLocation(uri).kind === 'fs';
  } catch {
    return false; // already reported by normalise
  }
}

/** Keys where an empty value silently means something else (a url left out serves the collector in-process). */
const MUST_NOT_BE_EMPTY =
  /^(collectors\.[^.]+\.url|scheduler\.collectors\.[^.]+\.url|scheduler\.collector_urls\.[^.]+|scheduler\.base_function_url|storage\.(reports|raw))$/;

function emptyReferenceProblem(keyPath: string, variables: string[]): string | null {
  if (!MUST_NOT_BE_EMPTY.test(keyPath)) return null;
  const names = variables.join(', ');
  const plural = variables.length > 1;
  const consequence = keyPath.endsWith('.url')
    ? `; without a url the collector would be served in-process instead. Set ${plural ? 'them' : 'it'}, or remove the key to serve it in-process on purpose`
    : `; set ${plural ? 'them' : 'it'}, or write \${${variables[0]}:-default}`;
  return `environment variable${plural ? 's' : ''} ${names} ${plural ? 'are' : 'is'} set but empty${consequence}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
