import type { CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { PermanentError } from '../../src/runtime/errors';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { putJson, readJson } from '../../src/store/types';
import { redactUrl } from '../../src/util/url';
import { streamToStore, type FileValidators, type StreamInspector } from '../stream-download';
import { Units } from '../units';
import type { InseeContoursOptions } from './options';

/**
 * The `static` source: Etalab's yearly "contours administratifs", all of France in one gzipped GeoJSON
 * per layer and resolution, `<base>/<YEAR|latest>/geojson/<layer>-<res>.geojson.gz`
 * (`datagouv/contours-administratifs` README; many public clients fetch e.g.
 * `2024/geojson/communes-100m.geojson.gz`). Streamed into `<raw>/insee-contours/static/<year>/…`.
 * Each layer is a unit of work: the year asked for first, then `fallback_years` in order while it is
 * not published (404); skipped when the year served has not changed since it was stored.
 */

interface LayerMark {
  year: string;
  key: string;
  validators: FileValidators;
  bytes: number;
  scheduledTime: string;
}

type LayerOutcome = { kind: 'written'; year: string; bytes: number } | { kind: 'unchanged'; year: string };

/** The two bytes every gzip member starts with (RFC 1952 §2.3.1). */
class GzipMagic implements StreamInspector<null> {
  private seen = Buffer.alloc(0);
  constructor(private readonly source: string) {}
  async write(chunk: Uint8Array): Promise<void> {
    if (this.seen.length >= 2) return;
    this.seen = Buffer.concat([this.seen, Buffer.from(chunk).subarray(0, 2)]).subarray(0, 2);
    if (this.seen.length === 2 && (this.seen[0] !== 0x1f || this.seen[1] !== 0x8b))
      throw new PermanentError(`${this.source} is not a gzip file`, {}, 'UPSTREAM_INVALID');
  }
  async end(): Promise<null> {
    if (this.seen.length < 2) throw new PermanentError(`${this.source} is empty`, {}, 'UPSTREAM_INVALID');
    return null;
  }
  abort(): void {}
}

export async function runStatic(ctx: CollectorContext<InseeContoursOptions>): Promise<CollectorResult> {
  const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
  const base = ctx.options.static_base_url.replace(/\/+$/, '');
  const years = [String(ctx.options.year), ...ctx.options.fallback_years.map(String)];
  const units = new Units('layers', ctx);
  const stored: Record<string, string> = {};
  const unchanged: Record<string, string> = {};
  let bytes = 0;
  for (const layer of ctx.options.layers) {
    const file = `${layer}-${ctx.options.resolution}.geojson.gz`;
    const outcome = await units.run(
      `layer ${layer}`,
      () => syncLayer(ctx, upstream, base, file, years),
      (o) => (o.kind === 'written' ? 'succeeded' : 'skipped'),
    );
    if (outcome?.kind === 'written') {
      stored[layer] = outcome.year;
      bytes += outcome.bytes;
    } else if (outcome) unchanged[layer] = outcome.year;
  }
  return {
    records: 0,
    summary: {
      source: 'static',
      resolution: ctx.options.resolution,
      years,
      stored,
      bytes,
      ...(Object.keys(unchanged).length > 0
        ? { skipped: { why: 'the same year’s file, unchanged, is already stored', layers: unchanged } }
        : {}),
    },
    units: units.finish(),
  };
}

async function syncLayer(
  ctx: CollectorContext<InseeContoursOptions>,
  upstream: UpstreamDeps,
  base: string,
  file: string,
  years: string[],
): Promise<LayerOutcome> {
  const markKey = `static/${file}.json`;
  const mark = (await readJson<LayerMark>(ctx.state, markKey))?.value ?? null;
  for (const year of years) {
    // A numbered year's file is published once: stored, it is not asked for again.
    if (year !== 'latest' && mark?.year === year) return { kind: 'unchanged', year };
    const url = `${base}/${year}/geojson/${file}`;
    // `latest` moves: it is stored under the day it was taken, a numbered year under its year.
    const folder = year === 'latest' ? `latest-${ctx.scheduledTime.toISOString().slice(0, 10)}` : year;
    const key = `static/${folder}/${file}`;
    const outcome = await streamToStore(upstream, ctx.output, {
      url,
      key,
      contentType: 'application/gzip',
      accept: 'application/gzip, application/geo+json, application/octet-stream',
      previous: mark?.year === year ? mark.validators : null,
      inspector: () => new GzipMagic(redactUrl(url)),
    });
    if (outcome.kind === 'missing') {
      ctx.log.info(`${file} is not published for ${year}; trying the next year`);
      continue;
    }
    if (outcome.kind === 'unchanged') return { kind: 'unchanged', year };
    await putJson(ctx.state, markKey, {
      year,
      key,
      validators: outcome.validators,
      bytes: outcome.object.bytes,
      scheduledTime: ctx.scheduledTime.toISOString(),
    } satisfies LayerMark);
    return { kind: 'written', year, bytes: outcome.object.bytes };
  }
  throw new PermanentError(
    `${file} is published for none of the years tried (${years.join(', ')}) under ${redactUrl(base)}: check options.year and options.fallback_years`,
    {},
    'UPSTREAM_INVALID',
  );
}
