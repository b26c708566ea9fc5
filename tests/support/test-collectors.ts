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
