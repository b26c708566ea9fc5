import { PermanentError } from '../../src/runtime/errors';
import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';

/** A plug-in collector whose run is the given function; options pass through unchanged. */
export function testCollector(
  name: string,
  run: (ctx: CollectorContext<Record<string, unknown>>) => Promise<CollectorResult>,
): Collector<unknown> {
  return {
    name,
    description: `test collector ${name}`,
    parseOptions: (raw) => ({ ...raw }),
    run: run as Collector<unknown>['run'],
  };
}

/** Writes one small object and reports it. */
export const writesOne = (name: string, records = 2) =>
  testCollector(name, async (ctx) => {
    await ctx.output.write(
      `${ctx.scheduledTime.toISOString().slice(0, 10)}/data.json`,
      JSON.stringify({ from: name }),
      { contentType: 'application/json', records },
    );
    return { records, summary: { wrote: 1 } };
  });

/**
 * A collector that splits its runs into the shards listed in its `keys` option (every shard's run gets
 * its options narrowed to `keys: [shard]`); `run` is called with the shard each run is.
 */
export function shardedTestCollector(
  name: string,
  run: (ctx: CollectorContext<Record<string, unknown>>, shard: string | null) => Promise<CollectorResult>,
): Collector<unknown> {
  const keysOf = (options: Readonly<Record<string, unknown>>): string[] =>
    Array.isArray(options['keys']) ? (options['keys'] as string[]) : [];
  return {
    ...testCollector(name, (ctx) => run(ctx, ctx.shard ?? null)),
    shards: {
      list: async (ctx) => keysOf(ctx.options as Record<string, unknown>),
      options: (raw, shard) => {
        if (!keysOf(raw).includes(shard)) throw new PermanentError(`options.keys: no shard ${shard}`);
        return { ...raw, keys: [shard] };
      },
    },
  };
}
