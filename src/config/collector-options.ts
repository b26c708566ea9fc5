import { errorMessage } from '../errors';
import type { LegacyOptions } from '../runtime/contract';
import type { Complain } from './errors';
import type { CollectorConfig, IgnoredSetting } from './types';

/** What the loader needs of a collector to check its options: its parser and its legacy mapping. */
export interface CollectorOptionsSpec {
  readonly name: string;
  parseOptions(raw: Readonly<Record<string, unknown>>): unknown;
  legacyOptions?(section: Readonly<Record<string, unknown>>): LegacyOptions;
  /** Present when the collector splits its runs into shards. */
  readonly shards?: unknown;
}

interface OptionIssue {
  path: string[];
  message: string;
}

/**
 * Gives each entry of a built-in collector the options of its `data_sources` section (original layout)
 * under its own, then checks them with the collector's parser, so bad options are config errors with a
 * key path and line rather than failed runs. Answers the entries and what the file sets that nothing uses.
 */
export function applyCollectorOptions(
  collectors: readonly CollectorConfig[],
  dataSources: unknown,
  specs: readonly CollectorOptionsSpec[],
  section: string,
  complain: Complain,
): { collectors: CollectorConfig[]; ignored: IgnoredSetting[] } {
  const sources = isRecord(dataSources) ? dataSources : {};
  const ignored: IgnoredSetting[] = [];
  const used = new Set<string>();
  const out = collectors.map((original) => {
    const entry = builtinFor(original, specs);
    const spec = specs.find((s) => s.name === entry.implementation);
    if (entry.shards && !spec?.shards) {
      const sharded = specs.filter((s) => s.shards).map((s) => s.name);
      complain(
        `${section}.${entry.name}.shards`,
        `${spec ? `the ${spec.name} collector does not split its runs into shards` : `needs a built-in collector (this entry runs "${entry.implementation}")`}; collectors with shards: ${sharded.join(', ') || 'none'}`,
      );
    }
    if (!spec) return entry;
    const sourceKey = [entry.implementation, entry.implementation.replaceAll('-', '_')].find(
      (k) => k in sources,
    );
    let legacy: LegacyOptions | null = null;
    if (sourceKey !== undefined && isRecord(sources[sourceKey])) {
      const section = sources[sourceKey];
      legacy = spec.legacyOptions
        ? spec.legacyOptions(section)
        : {
            options: {},
            from: {},
            unmapped: Object.keys(section).map((key) => ({
              key,
              why: `the ${spec.name} collector takes no data_sources settings`,
            })),
          };
      if (!used.has(sourceKey)) {
        used.add(sourceKey);
        for (const u of legacy.unmapped)
          ignored.push({ path: `data_sources.${sourceKey}.${u.key}`, why: u.why });
      }
    }
    const options = { ...(legacy?.options ?? {}), ...entry.options };
    try {
      spec.parseOptions(options);
    } catch (error) {
      for (const issue of issuesOf(error)) {
        const key = issue.path[0];
        const fromLegacy = key !== undefined && !(key in entry.options) && legacy?.from[key] !== undefined;
        const path = fromLegacy
          ? `data_sources.${sourceKey}.${legacy!.from[key]!}${issue.path.length > 1 ? `.${issue.path.slice(1).join('.')}` : ''}`
          : [`${section}.${entry.name}.options`, ...issue.path].join('.');
        complain(path, issue.message);
      }
    }
    return legacy ? { ...entry, options } : entry;
  });
  for (const key of Object.keys(sources).filter((k) => !used.has(k))) {
    ignored.push({
      path: `data_sources.${key}`,
      why: specs.some((s) => s.name === key || s.name.replaceAll('-', '_') === key)
        ? 'no configured collector runs it'
        : 'no built-in collector of this name',
    });
  }
  return { collectors: out, ignored };
}

/**
 * The original layout names collectors with underscores (`insee_contours`): an entry named so, with no
 * `collector:` of its own, runs the built-in collector of the hyphenated name.
 */
function builtinFor(entry: CollectorConfig, specs: readonly CollectorOptionsSpec[]): CollectorConfig {
  if (entry.implementation !== entry.name || specs.some((s) => s.name === entry.name)) return entry;
  const hyphenated = entry.name.replaceAll('_', '-');
  return specs.some((s) => s.name === hyphenated) ? { ...entry, implementation: hyphenated } : entry;
}

function issuesOf(error: unknown): OptionIssue[] {
  const issues = (error as { details?: { issues?: unknown } } | null)?.details?.issues;
  if (Array.isArray(issues) && issues.length > 0) return issues as OptionIssue[];
  return [{ path: [], message: errorMessage(error).replace(/^options(\.[^:]*)?: /, '') }];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
