import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * The MD5 of a stream, computed on a worker thread. MD5 runs at ~550 MB/s on one core and cannot be
 * split, so hashing a gigabyte on the thread that also reads the socket and feeds the file takes ~1.8 s
 * of its time, which the benchmark (bench/streams) saw added to the wall time of every large download.
 * The bytes are copied into 1 MB batches whose memory is moved (transferred, not copied) to the worker
 * and back; a stream holds at most BATCHES of them, so a slow hasher slows the stream, never the heap.
 */
export interface StreamHash {
  /** Takes a chunk; when the hasher is behind, resolves once it may take the next. */
  update(chunk: Uint8Array): Promise<void> | undefined;
  /** The hex digest of everything given. */
  digest(): Promise<string>;
  /** Stops (the write failed): frees the batches. */
  abort(): void;
}

const BATCH_BYTES = 1024 * 1024;
const BATCHES = 4;

// Plain JavaScript run by the worker (eval), so it works the same from dist/ and under ts-jest.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.kind === 'data') {
    let hash = hashes.get(m.id);
    if (!hash) hashes.set(m.id, (hash = createHash('md5')));
    hash.update(new Uint8Array(m.data, 0, m.length));
    parentPort.postMessage({ kind: 'free', id: m.id, data: m.data }, [m.data]);
  } else if (m.kind === 'end') {
    const hash = hashes.get(m.id) ?? createHash('md5');
    hashes.delete(m.id);
    parentPort.postMessage({ kind: 'digest', id: m.id, digest: hash.digest('hex') });
  } else if (m.kind === 'drop') {
    hashes.delete(m.id);
  }
});
`;

type FromWorker =
  { kind: 'free'; id: number; data: ArrayBuffer } | { kind: 'digest'; id: number; digest: string };

interface Job {
  free(data: ArrayBuffer): void;
  done(digest: string): void;
  fail(error: Error): void;
}

/** One worker for the process, started on first use; it does not keep the process alive when idle. */
class HashWorker {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  failure: Error | null = null;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (m: FromWorker) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      if (m.kind === 'free') job.free(m.data);
      else {
        this.release(m.id);
        job.done(m.digest);
      }
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const [id, job] of [...this.jobs]) {
        this.release(id);
        job.fail(error);
      }
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the MD5 worker thread exited (code ${code})`)));
  }

  open(job: Job): number {
    const id = this.nextId++;
    if (this.jobs.size === 0) this.worker.ref();
    this.jobs.set(id, job);
    return id;
  }

  send(id: number, data: ArrayBuffer, length: number): void {
    this.worker.postMessage({ kind: 'data', id, data, length }, [data]);
  }

  end(id: number): void {
    this.worker.postMessage({ kind: 'end', id });
  }

  drop(id: number): void {
    if (!this.jobs.has(id)) return;
    this.release(id);
    this.worker.postMessage({ kind: 'drop', id });
  }

  private release(id: number): void {
    this.jobs.delete(id);
    if (this.jobs.size === 0) this.worker.unref();
  }
}

let shared: HashWorker | null = null;

function hashWorker(): HashWorker | null {
  if (shared?.failure) shared = null;
  try {
    shared ??= new HashWorker();
  } catch {
    return null;
  }
  return shared;
}

/** A stream's MD5 on the worker thread; hashed inline when no worker can be had. */
export function streamHash(): StreamHash {
  const worker = hashWorker();
  return worker ? new OffloadedHash(worker) : inlineHash();
}

/** A stream's MD5 on the calling thread. */
export function inlineHash(): StreamHash {
  const md5 = createHash('md5');
  return {
    update: (chunk) => {
      md5.update(chunk);
      return undefined;
    },
    digest: async () => md5.digest('hex'),
    abort: () => undefined,
  };
}

class OffloadedHash implements StreamHash {
  private readonly id: number;
  private readonly spare: ArrayBuffer[] = [];
  private allocated = 0;
  private batch: Uint8Array | null = null;
  private filled = 0;
  private waiting: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly result: Promise<string>;

  constructor(private readonly worker: HashWorker) {
    let done: (digest: string) => void = () => undefined;
    let fail: (error: Error) => void = () => undefined;
    this.result = new Promise<string>((resolve, reject) => {
      done = resolve;
      fail = reject;
    });
    // Observed by `digest`; a failure before then is also reported by `update`.
    this.result.catch(() => undefined);
    this.id = worker.open({
      free: (data) => {
        this.spare.push(data);
        const waiting = this.waiting;
        this.waiting = null;
        waiting?.();
      },
      done,
      fail: (error) => {
        this.failure = error;
        fail(error);
        const waiting = this.waiting;
        this.waiting = null;
        waiting?.();
      },
    });
  }

  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.batch && !this.takeBatch())
        return this.afterFree().then(() => this.update(chunk.subarray(offset)));
      const batch = this.batch!;
      const n = Math.min(chunk.length - offset, batch.length - this.filled);
      batch.set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === batch.length) this.flush();
    }
    return undefined;
  }

  async digest(): Promise<string> {
    if (this.failure) throw this.failure;
    if (this.filled > 0) this.flush();
    this.worker.end(this.id);
    return this.result;
  }

  abort(): void {
    this.worker.drop(this.id);
    this.spare.length = 0;
    this.batch = null;
  }

  private takeBatch(): boolean {
    let data = this.spare.pop();
    if (!data && this.allocated < BATCHES) {
      data = new ArrayBuffer(BATCH_BYTES);
      this.allocated++;
    }
    if (!data) return false;
    this.batch = new Uint8Array(data);
    this.filled = 0;
    return true;
  }

  private flush(): void {
    const batch = this.batch!;
    this.batch = null;
    this.worker.send(this.id, batch.buffer as ArrayBuffer, this.filled);
    this.filled = 0;
  }

  private afterFree(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }
}
