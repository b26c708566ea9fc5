import { errorMessage } from '../../src/errors';
import type { CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { putJson, readJson } from '../../src/store/types';
import { readIndex, type IndexEntry } from '../files-index';
import { streamToStore } from '../stream-download';
import { Units } from '../units';
import type { SireneOptions } from './options';
import { ZipInspector } from './zip-check';

/**
 * The `stock` source: SIRENE's monthly stock files from files.data.gouv.fr, as the original collectors
 * took them. The folder lists dated copies, `<YYYY-MM-DD>-StockEtablissement_utf8.zip` (the original
 * collector's tests and several public clients read them so; upstreams.md §2), beside the undated latest.
 * Each (file, month) is a unit of work: streamed into `<raw>/sirene/stock/<YYYY-MM>/<name>` without
 * being buffered (the établissements zip is over 1 GB), and skipped when that month's file is stored.
 */

/** One monthly file to have: its month, the name it is served under, and its listing entry. */
export interface MonthlyFile {
  month: string;
  source: string;
  entry: IndexEntry | null;
}

interface StockMark {
  source: string;
  key: string;
  listedSize: string | null;
  bytes: number;
  md5: string;
  scheduledTime: string;
}

const DATED = /^(\d{4})-(\d{2})-(\d{2})-(.+)$/;

/**
 * The newest `monthsBack` months of `name` listed up to `day` (YYYY-MM-DD), newest first, one file per
 * month (its latest copy).
 */
export function monthlyFiles(
  entries: readonly IndexEntry[],
  name: string,
  day: string,
  monthsBack: number,
): MonthlyFile[] {
  const byMonth = new Map<string, IndexEntry>();
  for (const e of entries) {
    const m = DATED.exec(e.name);
    if (!m || m[4] !== name || e.name.slice(0, 10) > day) continue;
    const month = `${m[1]}-${m[2]}`;
    const current = byMonth.get(month);
    if (!current || e.name > current.name) byMonth.set(month, e);
  }
  return [...byMonth.entries()]
    .sort(([a], [b]) => (a < b ? 1 : -1))
    .slice(0, monthsBack)
    .map(([month, entry]) => ({ month, source: entry.name, entry }));
}

export async function runStock(ctx: CollectorContext<SireneOptions>): Promise<CollectorResult> {
  const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
  const base = ctx.options.stock_base_url.replace(/\/+$/, '');
  const day = ctx.scheduledTime.toISOString().slice(0, 10);
  let entries: IndexEntry[] | null = null;
  try {
    entries = await readIndex(upstream, base);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    ctx.log.warn(`listing ${base}/ unavailable; taking the undated latest files`, {
      error: errorMessage(error),
    });
  }
  const units = new Units('stock files', ctx);
  const stored: string[] = [];
  const unchanged: string[] = [];
  let bytes = 0;
  for (const name of ctx.options.stock_files) {
    const files = entries
      ? monthlyFiles(entries, name, day, ctx.options.months_back)
      : [{ month: day.slice(0, 7), source: name, entry: null }];
    if (files.length === 0) {
      units.fail(
        name,
        new PermanentError(`no monthly ${name} is listed at ${base}/ up to ${day} (options.stock_files)`),
      );
      continue;
    }
    for (const file of files) {
      const label = `${name} ${file.month}`;
      const outcome = await units.run(
        label,
        () => syncStockFile(ctx, upstream, base, name, file),
        (o) => (o === null ? 'skipped' : 'succeeded'),
      );
      if (outcome === null) unchanged.push(label);
      else if (outcome) {
        stored.push(label);
        bytes += outcome.bytes;
      }
    }
  }
  return {
    records: 0,
    summary: {
      source: 'stock',
      listing: entries ? 'read' : 'unavailable',
      stored,
      bytes,
      ...(unchanged.length > 0
        ? { skipped: { why: 'that month’s file is already stored', files: unchanged } }
        : {}),
    },
    units: units.finish(),
  };
}

/** Streams one monthly file into the store, or answers null when that month's copy is already there. */
async function syncStockFile(
  ctx: CollectorContext<SireneOptions>,
  upstream: UpstreamDeps,
  base: string,
  name: string,
  file: MonthlyFile,
): Promise<{ bytes: number } | null> {
  const markKey = `stock/${name}/${file.month}.json`;
  const mark = (await readJson<StockMark>(ctx.state, markKey))?.value ?? null;
  const listedSize = file.entry?.size ?? null;
  // Another copy of the same month (a dated re-publication) or another size is fetched again.
  if (mark && mark.source === file.source && (listedSize === null || listedSize === mark.listedSize))
    return null;
  const url = `${base}/${encodeURIComponent(file.source)}`;
  const key = `stock/${file.month}/${name}`;
  const outcome = await streamToStore(upstream, ctx.output, {
    url,
    key,
    contentType: 'application/zip',
    accept: 'application/zip, application/octet-stream',
    inspector: () => new ZipInspector(url),
  });
  if (outcome.kind === 'missing')
    throw new PermanentError(
      `${url} answered ${outcome.status}: listed but not served`,
      {},
      'UPSTREAM_INVALID',
    );
  if (outcome.kind === 'unchanged') return null;
  const next: StockMark = {
    source: file.source,
    key,
    listedSize,
    bytes: outcome.object.bytes,
    md5: outcome.object.md5,
    scheduledTime: ctx.scheduledTime.toISOString(),
  };
  await putJson(ctx.state, markKey, next);
  ctx.log.info(`stored ${key} (${file.source}): ${outcome.object.bytes} bytes`);
  return { bytes: outcome.object.bytes };
}
