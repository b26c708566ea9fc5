import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as v from 'valibot';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { applyCollectorOptions, type CollectorOptionsSpec } from './collector-options';
import { SchedulerError } from '../errors';
import { ConfigError, type ConfigProblem } from './errors';
import { parseLocation } from '../store/location';
import { checkAliases } from './aliases';
import { interpolate } from './interpolate';
import { normalise } from './normalise';
import { configSchema, type RawConfig } from './schema';
import { describeIssue } from '../util/issues';
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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
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

  let input: unknown;
  try {
    // Aliases were bounded above, so the library's own alias limit would only refuse valid files.
    input = doc.toJS({ maxAliasCount: -1 }) ?? {};
  } catch (error) {
    throw new ConfigError(source, [
      { path: '', line: null, message: `cannot be read: ${(error as Error).message}` },
    ]);
  }
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(source, [
      { path: '', line: 1, message: 'must be a YAML mapping (key: value pairs) at the top level' },
    ]);
  }

  const result = v.safeParse(configSchema, input, { abortEarly: false });
  if (!result.success) {
    throw new ConfigError(
      source,
      result.issues.map((issue) => describeConfigIssue(issue, doc, lineOf)),
    );
  }

  const crossProblems: ConfigProblem[] = [];
  const complain = (keyPath: string, message: string) => {
    crossProblems.push({ path: keyPath, line: lineOf(locate(doc, keyPath.split('.'))), message });
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
  if (crossProblems.length > 0) throw new ConfigError(source, crossProblems);
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

type Issue = v.InferIssue<typeof configSchema>;

function describeConfigIssue(
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
function locate(doc: Document, keys: string[]): number | undefined {
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
function pathOfNode(doc: Document, target: Node): string | null {
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

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
