import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { Collector, CollectorContext, Manifest } from '../../src/runtime/contract';
import { LeaseManager } from '../../src/lease/lease';
import { RawOutput } from '../../src/runtime/output';
import { createTokenBroker } from '../../src/token/broker';
import { runCollector, type CollectorRunOutcome } from '../../src/runtime/run-collector';
import { envSecretSource } from '../../src/secrets/env-source';
import { FsObjectStore } from '../../src/store/fs-store';
import type { ObjectInfo, ObjectStore, PutOptions, StoredObject, WriteResult } from '../../src/store/types';
import { createLogger, type LogEntry } from '../../src/util/log';
import { FakeClock } from '../support/fake-clock';

/**
 * Drives a collector the way the scheduler does (runCollector, a real FsObjectStore, the fake clock),
 * and reads back what it left in the raw and state stores.
 */
export interface Harness {
  dir: string;
  raw: ObservedStore;
  state: FsObjectStore;
  clock: FakeClock;
  logs: LogEntry[];
  run<O>(
    collector: Collector<O>,
    options?: Record<string, unknown>,
    run?: RunSpec,
  ): Promise<CollectorRunOutcome>;
  /** Keys under `<raw>/<collector>/`, sorted. */
  rawKeys(collector: string): Promise<string[]>;
  readRaw(collector: string, key: string): Promise<Buffer | null>;
  readState<T>(collector: string, key: string): Promise<T | null>;
  /** A context for calling `collector.run` directly, with a signal the test controls. */
  context<O>(
    collector: Collector<O>,
    options: Record<string, unknown>,
    signal: AbortSignal,
    env?: Env,
  ): CollectorContext<O>;
}

type Env = Record<string, string | undefined>;

export interface RunSpec {
  scheduledTime?: string;
  executionId?: string;
  attempt?: number;
  timeoutSeconds?: number;
  env?: Env;
  /** Run as this shard (its options narrowed by the collector's ShardPlan first). */
  shard?: string;
}

export const SCHEDULED = '2026-11-22T02:00:00.000Z';

export function makeHarness(
  dir: string,
  clock = new FakeClock('2026-11-22T02:00:00Z'),
  rawStore: ObjectStore = new FsObjectStore(path.join(dir, 'raw')),
): Harness {
  const logs: LogEntry[] = [];
  const logger = createLogger((e) => logs.push(e), {}, 'DEBUG');
  const raw = new ObservedStore(rawStore);
  const state = new FsObjectStore(path.join(dir, 'state'));
  const tokens = createTokenBroker({
    store: state,
    leases: new LeaseManager(state, clock, logger),
    clock,
    logger,
  });
  const collectorState = (name: string) => state.scope(`collectors/${name}`);
  return {
    dir,
    raw,
    state,
    clock,
    logs,
    run(collector, options = {}, spec = {}) {
      const env = spec.env ?? {};
      return runCollector(
        collector as Collector<unknown>,
        {
          executionId: spec.executionId ?? 'exec-1',
          collector: collector.name,
          scheduledTime: spec.scheduledTime ?? SCHEDULED,
          attempt: spec.attempt ?? 1,
          options: spec.shard === undefined ? options : collector.shards!.options(options, spec.shard),
          ...(spec.shard === undefined ? {} : { shard: spec.shard }),
        },
        spec.timeoutSeconds ?? 300,
        {
          stores: { raw, state },
          fetch: globalThis.fetch,
          clock,
          logger,
          env,
          secrets: envSecretSource(env),
          tokens,
        },
      );
    },
    async rawKeys(collector) {
      const keys: string[] = [];
      for await (const info of raw.scope(collector).list('')) keys.push(info.key);
      return keys.sort();
    },
    async readRaw(collector, key) {
      return (await raw.scope(collector).get(key))?.data ?? null;
    },
    async readState<T>(collector: string, key: string) {
      const obj = await collectorState(collector).get(key);
      return obj ? (JSON.parse(obj.data.toString('utf8')) as T) : null;
    },
    context(collector, options, signal, env = {}) {
      return {
        collector: collector.name,
        executionId: 'exec-direct',
        scheduledTime: new Date(SCHEDULED),
        attempt: 1,
        options: collector.parseOptions(options),
        output: new RawOutput(raw.scope(collector.name), {
          collector: collector.name,
          executionId: 'exec-direct',
          scheduledTime: new Date(SCHEDULED),
        }),
        state: collectorState(collector.name),
        fetch: globalThis.fetch,
        clock,
        log: logger,
        signal,
        env,
        secrets: envSecretSource(env),
        tokens,
      };
    },
  };
}

/** What a streamed write looked like from the store's side. */
export interface StreamObservation {
  key: string;
  chunks: number;
  largestChunk: number;
  bytes: number;
}

/**
 * An ObjectStore that records, for every putStream, how the data arrived (how many chunks, the largest),
 * and lets a test wait until the first chunk of a write has reached the store.
 */
export class ObservedStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    readonly streams: StreamObservation[] = [],
    private readonly firstChunkWaiters: (() => void)[] = [],
  ) {}

  get location(): string {
    return this.inner.location;
  }

  /** Resolves when the next streamed write delivers its first chunk to the store. */
  nextFirstChunk(): Promise<void> {
    return new Promise((resolve) => this.firstChunkWaiters.push(resolve));
  }

  get(key: string): Promise<StoredObject | null> {
    return this.inner.get(key);
  }

  put(key: string, data: Buffer | string, options?: PutOptions): Promise<WriteResult> {
    return this.inner.put(key, data, options);
  }

  putStream(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    options?: PutOptions,
  ): Promise<WriteResult> {
    const observation: StreamObservation = { key, chunks: 0, largestChunk: 0, bytes: 0 };
    this.streams.push(observation);
    const waiters = this.firstChunkWaiters;
    async function* observed(): AsyncGenerator<Uint8Array> {
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        observation.chunks++;
        observation.bytes += chunk.length;
        observation.largestChunk = Math.max(observation.largestChunk, chunk.length);
        if (observation.chunks === 1) for (const w of waiters.splice(0)) w();
        yield chunk;
      }
    }
    return this.inner.putStream(key, Readable.from(observed()), options);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  delete(key: string, options?: { ifGenerationMatch?: string | number }): Promise<boolean> {
    return this.inner.delete(key, options);
  }

  scope(prefix: string): ObservedStore {
    return new ObservedStore(this.inner.scope(prefix), this.streams, this.firstChunkWaiters);
  }
}

/** Checks a manifest against the store: every object exists with its size and md5; totals add up. */
export async function verifyManifest(raw: ObjectStore, collector: string, manifest: Manifest): Promise<void> {
  const store = raw.scope(collector);
  const { createHash } = await import('node:crypto');
  for (const object of manifest.objects) {
    const stored = await store.get(object.key);
    if (!stored) throw new Error(`manifest lists ${object.key}, which is not in the store`);
    if (stored.data.length !== object.bytes)
      throw new Error(`${object.key}: manifest says ${object.bytes} bytes, store has ${stored.data.length}`);
    const md5 = createHash('md5').update(stored.data).digest('hex');
    if (md5 !== object.md5) throw new Error(`${object.key}: manifest md5 ${object.md5}, store ${md5}`);
  }
  const totals = {
    objects: manifest.objects.length,
    bytes: manifest.objects.reduce((n, o) => n + o.bytes, 0),
    records: manifest.objects.reduce((n, o) => n + (o.records ?? 0), 0),
  };
  if (JSON.stringify(totals) !== JSON.stringify(manifest.totals))
    throw new Error(`manifest totals ${JSON.stringify(manifest.totals)} != ${JSON.stringify(totals)}`);
  const storedManifest = await store.get(manifest.location.slice(store.location.length + 1));
  if (!storedManifest) throw new Error(`the manifest itself is not stored at ${manifest.location}`);
}

/** Every file under `dir`, as text, for "the secret appears nowhere" assertions. */
export async function allText(dir: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await fsp.readdir(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else parts.push(`${full}\n${await fsp.readFile(full, 'utf8')}`);
    }
  };
  await walk(dir);
  return parts.join('\n');
}

/**
 * A raw store that keeps small objects in memory and only hashes and counts streamed ones, so a test can
 * stream gigabytes without writing them; `onChunk` sees every chunk as the store consumes it.
 */
export class SinkStore implements ObjectStore {
  private readonly objects = new Map<string, { data: Buffer; generation: string }>();
  readonly streamed = new Map<string, { bytes: number; md5: string }>();

  constructor(
    readonly location = 'sink://raw',
    private readonly onChunk: (chunk: Uint8Array) => void = () => undefined,
    private readonly prefix = '',
    shared?: SinkStore,
  ) {
    if (shared) {
      this.objects = shared.objects;
      this.streamed = shared.streamed;
    }
  }

  async get(key: string): Promise<StoredObject | null> {
    return this.objects.get(this.prefix + key) ?? null;
  }

  async put(key: string, data: Buffer | string): Promise<WriteResult> {
    const buf = Buffer.from(data);
    this.objects.set(this.prefix + key, { data: buf, generation: '1' });
    const { createHash } = await import('node:crypto');
    return { key, generation: '1', size: buf.length, md5: createHash('md5').update(buf).digest('hex') };
  }

  async putStream(key: string, source: Readable | AsyncIterable<Uint8Array>): Promise<WriteResult> {
    const { createHash } = await import('node:crypto');
    const md5 = createHash('md5');
    let bytes = 0;
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      this.onChunk(chunk);
      md5.update(chunk);
      bytes += chunk.byteLength;
    }
    const result = { bytes, md5: md5.digest('hex') };
    this.streamed.set(this.prefix + key, result);
    return { key, generation: '1', size: bytes, md5: result.md5 };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const [key, value] of this.objects) {
      if (key.startsWith(this.prefix + prefix))
        yield { key: key.slice(this.prefix.length), size: value.data.length, generation: '1', updated: '' };
    }
  }

  async delete(key: string): Promise<boolean> {
    return this.objects.delete(this.prefix + key);
  }

  scope(prefix: string): SinkStore {
    return new SinkStore(`${this.location}/${prefix}`, this.onChunk, `${this.prefix}${prefix}/`, this);
  }
}
