import type { CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { compactTime } from '../../src/runtime/output';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { describeRef } from '../../src/secrets/types';
import { registerSecret } from '../../src/util/secrets';
import { SireneClient, type Etablissement } from './client';
import { keyRef, type SireneOptions } from './options';
import {
  readCheckpoint,
  readWatermark,
  sinceFor,
  writeCheckpoint,
  writeWatermark,
  type Checkpoint,
  type Watermark,
} from './state';

/**
 * The `api` source: établissements updated since the last run, from API Sirene 3.11 (INSEE), a cursor
 * sweep of `dateDernierTraitementEtablissement:[<watermark - overlap> TO *]`, written as NDJSON pages at
 * `<raw>/sirene/<scheduledTime>/etablissements-<00001>.ndjson`, paced to the key's per-minute budget.
 * The sweep is one unit of work: its checkpoint lets a retry resume where it stopped.
 */

const SORT_FIELD = 'dateDernierTraitementEtablissement';

export async function runApiSweep(
  ctx: CollectorContext<SireneOptions>,
  key: string,
): Promise<CollectorResult> {
  const ref = keyRef(ctx.options);
  // Whatever the secret source, make sure logs and run records scrub the key.
  registerSecret(key);
  const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
  const client = new SireneClient(
    upstream,
    ctx.options.base_url.replace(/\/+$/, ''),
    key,
    describeRef(ref),
    ctx.options.requests_per_minute,
    { remaining: ctx.options.rate_limit_remaining_header, reset: ctx.options.rate_limit_reset_header },
  );
  const watermark = await readWatermark(ctx.state);
  const start = await startSweep(ctx, client, watermark);
  if ('result' in start) return start.result;
  const { checkpoint: done, recordsThisRun } = await sweepPages(ctx, client, start.checkpoint, watermark);
  const after: Watermark = {
    maxTraitement: done.maxSeen,
    publication: done.publication ?? watermark?.publication ?? null,
    scheduledTime: ctx.scheduledTime.toISOString(),
  };
  await writeWatermark(ctx.state, after);
  ctx.log.info(`sweep since ${done.since} complete: ${done.records} établissements`);
  return {
    records: recordsThisRun,
    summary: {
      ...describe(done, watermark, after),
      ...(start.resumedFromPage !== null ? { resumedFromPage: start.resumedFromPage } : {}),
      recordsThisRun,
      requests: client.requests,
    },
  };
}

/**
 * Where this run's sweep starts: the checkpoint of an unfinished sweep of the same scheduledTime (a
 * retry resumes it), a new one, or no sweep at all (already complete; nothing published since).
 */
async function startSweep(
  ctx: CollectorContext<SireneOptions>,
  client: SireneClient,
  watermark: Watermark | null,
): Promise<{ result: CollectorResult } | { checkpoint: Checkpoint; resumedFromPage: number | null }> {
  const scheduled = ctx.scheduledTime.toISOString();
  const previous = await readCheckpoint(ctx.state);
  if (previous?.scheduledTime === scheduled) {
    if (previous.complete) {
      // This scheduledTime's sweep already finished: rerunning it must not write a second, different set.
      return {
        result: {
          records: 0,
          summary: { alreadyComplete: true, ...describe(previous, watermark, watermark) },
        },
      };
    }
    ctx.log.info(`resuming the sweep since ${previous.since} at page ${previous.nextPage}`);
    return { checkpoint: previous, resumedFromPage: previous.nextPage };
  }
  const publication = await client.lastPublication();
  if (watermark?.publication && publication === watermark.publication) {
    return {
      result: {
        records: 0,
        summary: {
          upToDate: true,
          why: `INSEE has published no établissement data since ${publication}`,
          watermark: watermark.maxTraitement,
          requests: client.requests,
        },
      },
    };
  }
  const checkpoint: Checkpoint = {
    scheduledTime: scheduled,
    since: sinceFor(watermark, ctx.options, ctx.scheduledTime),
    cursor: '*',
    nextPage: 1,
    records: 0,
    pages: [],
    maxSeen: watermark?.maxTraitement ?? null,
    lastDate: null,
    ascending: true,
    publication,
    complete: false,
  };
  await writeCheckpoint(ctx.state, checkpoint);
  return { checkpoint, resumedFromPage: null };
}

/** Follows the cursor to the last page, writing each page and checkpointing after it. */
async function sweepPages(
  ctx: CollectorContext<SireneOptions>,
  client: SireneClient,
  start: Checkpoint,
  watermark: Watermark | null,
): Promise<{ checkpoint: Checkpoint; recordsThisRun: number }> {
  const stamp = compactTime(ctx.scheduledTime);
  const q = `${SORT_FIELD}:[${start.since} TO *]`;
  let checkpoint = start;
  let recordsThisRun = 0;
  while (!checkpoint.complete) {
    ctx.signal.throwIfAborted();
    const page = await client.searchPage({
      q,
      tri: SORT_FIELD,
      pageSize: ctx.options.page_size,
      cursor: checkpoint.cursor,
    });
    const rows = page?.etablissements ?? [];
    const next: Checkpoint = { ...checkpoint };
    if (rows.length > 0) {
      const key = `${stamp}/etablissements-${String(checkpoint.nextPage).padStart(5, '0')}.ndjson`;
      await ctx.output.write(key, rows.map((r) => JSON.stringify(r)).join('\n') + '\n', {
        contentType: 'application/x-ndjson',
        records: rows.length,
      });
      const order = orderOf(rows, checkpoint.lastDate);
      next.nextPage = checkpoint.nextPage + 1;
      next.records = checkpoint.records + rows.length;
      next.pages = [...checkpoint.pages, key];
      next.ascending = checkpoint.ascending && order.ascending;
      next.lastDate = order.last ?? checkpoint.lastDate;
      next.maxSeen = maxOf(checkpoint.maxSeen, order.max);
      recordsThisRun += rows.length;
    }
    // The last page is the one whose next cursor is its own cursor (or a 404: nothing matched).
    const following = page?.header.curseurSuivant ?? checkpoint.cursor;
    next.complete = following === checkpoint.cursor;
    next.cursor = following;
    await writeCheckpoint(ctx.state, next);
    // Sorted ascending, every update older than the newest date written is stored: the watermark may
    // move now, so even an abandoned sweep is not redone from its start.
    if (
      !next.complete &&
      next.ascending &&
      next.maxSeen &&
      next.maxSeen !== (watermark?.maxTraitement ?? null)
    ) {
      await writeWatermark(ctx.state, {
        maxTraitement: next.maxSeen,
        publication: watermark?.publication ?? null,
        scheduledTime: ctx.scheduledTime.toISOString(),
      });
    }
    checkpoint = next;
  }
  return { checkpoint, recordsThisRun };
}

function describe(
  checkpoint: Checkpoint,
  before: Watermark | null,
  after: Watermark | null,
): Record<string, unknown> {
  return {
    since: checkpoint.since,
    pages: checkpoint.pages.length,
    records: checkpoint.records,
    watermark: { before: before?.maxTraitement ?? null, after: after?.maxTraitement ?? null },
    ...(checkpoint.publication ? { publication: checkpoint.publication } : {}),
  };
}

/** The page's dates in order: whether they ascend from `previous`, the last one and the largest. */
function orderOf(
  rows: readonly Etablissement[],
  previous: string | null,
): { ascending: boolean; last: string | null; max: string | null } {
  let ascending = true;
  let last = previous;
  let max: string | null = null;
  for (const row of rows) {
    const date = row.dateDernierTraitementEtablissement;
    if (typeof date !== 'string' || date === '') continue;
    if (last !== null && date < last) ascending = false;
    last = date;
    max = maxOf(max, date);
  }
  return { ascending, last, max };
}

function maxOf(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}
