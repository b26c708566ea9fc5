import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import type { IndexEntry } from '../files-index';
import { Units } from '../units';
import { departementsOf, dvfLegacyOptions, parseDvfOptions, type DvfOptions } from './options';
import { ReleaseListing, resolveRelease, type Release } from './release';
import { partsOf, windowYears, dvfShards } from './shards';
import { fileLabel, syncFile, type DvfFile, type FileOutcome } from './sync';

/**
 * DVF (French property sales), geolocated by Etalab: one gzipped CSV per (year, département), or the
 * national `full.csv.gz` per year, streamed from files.data.gouv.fr into
 * `<raw>/dvf/<release>/<year>/departements/<dep>.csv.gz` (`<raw>/dvf/<release>/<year>/full.csv.gz`).
 *
 * Every year the release holds, by default. A file already stored for the release is skipped unless the
 * release's listing shows it with another size or date (revised in place). Each file is a unit of work:
 * one that fails is recorded in the manifest and the others go on.
 */

export type { DvfOptions } from './options';

interface Tally {
  written: string[];
  revised: string[];
  unchanged: string[];
  excluded: string[];
  not_found: string[];
  rows: number;
  bytes: number;
}

export const dvf: Collector<DvfOptions> = {
  name: 'dvf',
  description:
    'DVF property sales (geo-dvf, Etalab): gzipped CSVs per year and département (or national), streamed',
  parseOptions: parseDvfOptions,
  legacyOptions: dvfLegacyOptions,
  shards: dvfShards,
  async run(ctx: CollectorContext<DvfOptions>): Promise<CollectorResult> {
    const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
    const release = await resolveRelease(upstream, ctx.options.base_url, ctx.scheduledTime);
    const listing = new ReleaseListing(upstream, release);
    const held = await listing.years();
    const years = ctx.options.years ?? held ?? windowYears(ctx.scheduledTime);
    const units = new Units('files', ctx);
    const tally: Tally = {
      written: [],
      revised: [],
      unchanged: [],
      excluded: [],
      not_found: [],
      rows: 0,
      bytes: 0,
    };
    ctx.log.info(`geo-dvf release ${release.name} (${release.source})`, { years });

    for (const year of years) {
      ctx.signal.throwIfAborted();
      if (ctx.options.years && held && !held.includes(year)) {
        units.fail(
          `${year}`,
          new PermanentError(
            `options.years: ${year} is not in geo-dvf release ${release.name}, which holds ${held.join(', ')}`,
          ),
        );
        continue;
      }
      const national = ctx.options.files === 'national';
      const folder = await listing.files(year, national ? '' : 'departements');
      // A missing folder means no such files only when the release's own listing could be read.
      const listed = folder === 'missing' ? (held ? new Map<string, IndexEntry>() : null) : folder;
      const parts = national ? ['full'] : departementsOf(ctx.options, listed ? partsOf(listed) : null);
      for (const part of parts) {
        const file: DvfFile = { year, part };
        const entry = listed === null ? null : listed.get(part === 'full' ? 'full.csv.gz' : `${part}.csv.gz`);
        const outcome = await units.run(
          `file ${fileLabel(file)}`,
          () => syncFile(ctx, upstream, release, file, entry),
          (o) => (o.kind === 'written' ? 'succeeded' : 'skipped'),
        );
        if (outcome) count(tally, fileLabel(file), outcome);
      }
    }

    const summaryUnits = units.summary();
    if (
      tally.written.length + tally.unchanged.length === 0 &&
      summaryUnits.failed === 0 &&
      tally.not_found.length > 0
    ) {
      // Every file missing is a wrong base_url or years, not an empty release: say so instead of succeeding.
      throw new PermanentError(
        `no geo-dvf file found under ${release.base} for years ${years.join(', ')} (${tally.not_found.length} not published): check options.base_url and options.years`,
        { details: { release: release.name, notFound: tally.not_found.slice(0, 10) } },
        'UPSTREAM_INVALID',
      );
    }
    return {
      records: tally.rows,
      summary: summarise(release, years, ctx.options, tally),
      units: units.finish(),
    };
  },
};

function count(tally: Tally, label: string, outcome: FileOutcome): void {
  if (outcome.kind === 'written') {
    tally.written.push(label);
    if (outcome.revised) tally.revised.push(label);
    tally.rows += outcome.rows ?? 0;
    tally.bytes += outcome.bytes;
  } else if (outcome.kind === 'unchanged') tally.unchanged.push(label);
  else tally[outcome.kind].push(label);
}

function summarise(
  release: Release,
  years: number[],
  options: DvfOptions,
  t: Tally,
): Record<string, unknown> {
  const skipped = t.unchanged.length + t.excluded.length + t.not_found.length;
  const group = (files: string[], why: string) => (files.length > 0 ? { why, files } : undefined);
  return {
    release: { name: release.name, source: release.source, ...(release.note ? { note: release.note } : {}) },
    years,
    files: { written: t.written.length, skipped, kind: options.files },
    rows: t.rows,
    bytes: t.bytes,
    ...(t.revised.length > 0
      ? {
          revised: {
            why: `re-published inside release ${release.name} with another size or date`,
            files: t.revised,
          },
        }
      : {}),
    skipped: JSON.parse(
      JSON.stringify({
        unchanged: group(
          t.unchanged,
          release.source === 'unresolved'
            ? 'the server reports the same ETag / Last-Modified and size as the copy already stored'
            : `already stored for release ${release.name}, with the size and date its listing shows`,
        ),
        excluded: group(t.excluded, 'not covered by DVF (Alsace-Moselle 57/67/68 and Mayotte 976)'),
        not_found: group(t.not_found, `not published in release ${release.name}`),
      }),
    ) as Record<string, unknown>,
  };
}
