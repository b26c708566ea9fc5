import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { downloadFile } from './download';
import { readMark, writeMark } from './marks';
import {
  defaultYears,
  departementsOf,
  EXCLUDED_DEPARTEMENTS,
  parseDvfOptions,
  type DvfOptions,
} from './options';
import { resolveRelease } from './release';

/**
 * DVF (French property sales), geolocated by Etalab: one gzipped CSV per (year, département), streamed
 * from files.data.gouv.fr into `<raw>/dvf/<release>/<year>/departements/<dep>.csv.gz`.
 *
 * A release (`YYYY-MM`) republishes every year of its window, so `(release, year, dep)` is an immutable
 * partition: a file already stored for the current release is skipped without a request.
 */

export type { DvfOptions } from './options';

/** Why a file was not written this run; the summary groups files by these. */
export const SKIP_REASONS = ['unchanged', 'excluded', 'not_found'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export const dvf: Collector<DvfOptions> = {
  name: 'dvf',
  description: 'DVF property sales (geo-dvf, Etalab): one gzipped CSV per year and département, streamed',
  parseOptions: parseDvfOptions,
  async run(ctx: CollectorContext<DvfOptions>): Promise<CollectorResult> {
    const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
    const release = await resolveRelease(upstream, ctx.options.base_url, ctx.scheduledTime);
    const years = ctx.options.years ?? defaultYears(ctx.scheduledTime);
    const departements = departementsOf(ctx.options);
    const skipped: Record<SkipReason, string[]> = { unchanged: [], excluded: [], not_found: [] };
    const written: string[] = [];
    let rows = 0;
    let bytes = 0;

    ctx.log.info(`geo-dvf release ${release.name} (${release.source})`, {
      years,
      departements: departements.length,
    });
    for (const year of years) {
      for (const dep of departements) {
        ctx.signal.throwIfAborted();
        const file = `${year}/${dep}`;
        const mark = await readMark(ctx.state, year, dep);
        // A known release never changes in place: what was stored for it is still current.
        if (release.source !== 'unresolved' && mark?.release === release.name) {
          skipped.unchanged.push(file);
          continue;
        }
        const key = `${release.name}/${year}/departements/${dep}.csv.gz`;
        const outcome = await downloadFile(upstream, ctx.output, {
          url: `${release.base}/${year}/departements/${encodeURIComponent(dep)}.csv.gz`,
          key,
          previous: release.source === 'unresolved' ? (mark?.validators ?? null) : null,
        });
        if (outcome.kind === 'missing') {
          skipped[EXCLUDED_DEPARTEMENTS.includes(dep) ? 'excluded' : 'not_found'].push(file);
          continue;
        }
        if (outcome.kind === 'unchanged') {
          skipped.unchanged.push(file);
          continue;
        }
        await writeMark(ctx.state, year, dep, {
          release: release.name,
          key,
          validators: outcome.validators,
          bytes: outcome.object.bytes,
          md5: outcome.object.md5,
          rows: outcome.csv.rows,
          scheduledTime: ctx.scheduledTime.toISOString(),
        });
        written.push(file);
        rows += outcome.csv.rows;
        bytes += outcome.object.bytes;
        ctx.log.info(`stored ${key}: ${outcome.csv.rows} rows, ${outcome.object.bytes} bytes`);
      }
    }

    if (written.length === 0 && skipped.unchanged.length === 0 && skipped.not_found.length > 0) {
      // Every file missing is a wrong base_url or years, not an empty release: say so instead of succeeding.
      throw new PermanentError(
        `no geo-dvf file found under ${release.base} for years ${years.join(', ')} (${skipped.not_found.length} answered 404): check options.base_url and options.years`,
        { details: { release: release.name, notFound: skipped.not_found.slice(0, 10) } },
        'UPSTREAM_INVALID',
      );
    }

    return {
      records: rows,
      summary: {
        release: {
          name: release.name,
          source: release.source,
          ...(release.note ? { note: release.note } : {}),
        },
        years,
        departements: departements.length,
        files: { written: written.length, skipped: Object.values(skipped).reduce((n, l) => n + l.length, 0) },
        rows,
        bytes,
        skipped: {
          ...(skipped.unchanged.length > 0
            ? {
                unchanged: {
                  why:
                    release.source === 'unresolved'
                      ? 'the server reports the same ETag / Last-Modified and size as the copy already stored'
                      : `already stored for release ${release.name}, which does not change once published`,
                  files: skipped.unchanged,
                },
              }
            : {}),
          ...(skipped.excluded.length > 0
            ? {
                excluded: {
                  why: 'not covered by DVF (Alsace-Moselle 57/67/68 and Mayotte 976): answered 404 as expected',
                  files: skipped.excluded,
                },
              }
            : {}),
          ...(skipped.not_found.length > 0
            ? {
                not_found: {
                  why: `answered 404: not (yet) published in release ${release.name}`,
                  files: skipped.not_found,
                },
              }
            : {}),
        },
      },
    };
  },
};
