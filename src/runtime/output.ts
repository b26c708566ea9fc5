import type { Readable } from 'node:stream';
import { readJson, type ObjectStore } from '../store/types';
import type { Manifest, ManifestObject, UnitsSummary } from './manifest';

export interface WriteOptions {
  contentType: string;
  /** Records in this object, for the manifest; a function is read once the write completed (streams count as they go). */
  records?: number | (() => number | null);
}

/** `2026-11-22T02:00:00.000Z` → `20261122T020000Z`: sortable and safe in any object name. */
export function compactTime(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A collector's raw output under `<raw>/<collector>/`. Every object written is recorded for the manifest
 * that ends the run, at `<raw>/<collector>/manifests/<scheduledTime>.json`, so a rerun of the same
 * (collector, scheduledTime) replaces it rather than adding one.
 */
export class RawOutput {
  private readonly written = new Map<string, ManifestObject>();
  private units: UnitsSummary | null = null;

  constructor(
    private readonly store: ObjectStore,
    private readonly run: {
      collector: string;
      executionId: string;
      scheduledTime: Date;
      manifestPrefix?: string;
    },
  ) {}

  get location(): string {
    return this.store.location;
  }

  async write(key: string, data: Buffer | string, options: WriteOptions): Promise<ManifestObject> {
    const result = await this.store.put(key, data, { contentType: options.contentType });
    return this.record(key, result.size, result.md5, options);
  }

  async writeStream(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    options: WriteOptions,
  ): Promise<ManifestObject> {
    const result = await this.store.putStream(key, source, { contentType: options.contentType });
    return this.record(key, result.size, result.md5, options);
  }

  objects(): ManifestObject[] {
    return [...this.written.values()];
  }

  /** The run's units of work, for the manifest (failed ones with their reasons). */
  recordUnits(units: UnitsSummary): void {
    this.units = units;
  }

  /** Whether there is anything a manifest should list (objects written, or units that ran). */
  hasContent(): boolean {
    return this.written.size > 0 || this.units !== null;
  }

  /**
   * Writes the manifest. A retried attempt of the same execution keeps what earlier attempts wrote and
   * listed (a resumed collector does not write those objects again); a new execution starts afresh.
   */
  async finish(): Promise<Manifest> {
    const key = `${this.run.manifestPrefix ?? 'manifests'}/${compactTime(this.run.scheduledTime)}.json`;
    const previous = await readJson<Manifest>(this.store, key).catch(() => null);
    const objects = [
      ...(previous?.value.executionId === this.run.executionId
        ? previous.value.objects.filter((o) => !this.written.has(o.key))
        : []),
      ...this.objects(),
    ];
    const manifest: Manifest = {
      location: `${this.store.location}/${key}`,
      collector: this.run.collector,
      executionId: this.run.executionId,
      scheduledTime: this.run.scheduledTime.toISOString(),
      objects,
      totals: {
        objects: objects.length,
        bytes: objects.reduce((n, o) => n + o.bytes, 0),
        records: objects.reduce((n, o) => n + (o.records ?? 0), 0),
      },
      ...(this.units ? { units: this.units } : {}),
    };
    await this.store.put(key, JSON.stringify(manifest, null, 2) + '\n', { contentType: 'application/json' });
    return manifest;
  }

  private record(key: string, bytes: number, md5: string, options: WriteOptions): ManifestObject {
    const records = typeof options.records === 'function' ? options.records() : (options.records ?? null);
    const entry: ManifestObject = { key, bytes, md5, records, contentType: options.contentType };
    this.written.set(key, entry);
    return entry;
  }
}
