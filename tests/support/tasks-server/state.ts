import * as http from 'node:http';
import * as https from 'node:https';
// The @grpc/grpc-js copy google-gax (and so the Tasks client) uses.
import { grpc } from 'google-gax';
import { realClock, type TasksClock } from './time';
import type { AttemptRecord, GrpcCallRecord, TaskRecord, TasksServerOptions } from './records';
import type { Entry, Queue } from './internals';

/** A `waitFor` caller: its predicate is checked after every change of state. */
export interface Waiter {
  // Method syntax: the predicate takes the whole TasksServer, of which this state is the base.
  predicate(server: TasksServerState): boolean;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

/** The server's state, shared by the layers of TasksServer (delivery, queue RPCs, task RPCs, API). */
export abstract class TasksServerState {
  readonly host = '127.0.0.1';
  readonly project: string;
  readonly location: string;
  /** Every task ever created, in creation order (finished and deleted ones included). */
  readonly tasks: TaskRecord[] = [];
  /** Every HTTP attempt, in start order. */
  readonly attempts: AttemptRecord[] = [];
  /** Every gRPC call received, in order. */
  readonly requests: GrpcCallRecord[] = [];
  /** gRPC calls received and not yet answered; the most there ever were at once. */
  callsInFlight = 0;
  maxCallsInFlight = 0;

  protected readonly clock: TasksClock;
  protected readonly timeScale: number;
  protected readonly tombstoneMs: number;
  protected readonly queueTombstoneMs: number;
  protected readonly waitTimeoutMs: number;
  protected readonly queues = new Map<string, Queue>();
  protected readonly entries = new Map<string, Entry>();
  protected readonly taskTombstones = new Map<string, number>();
  protected readonly queueTombstones = new Map<string, number>();
  protected readonly waiters = new Set<Waiter>();
  protected readonly dispatches = new Set<Promise<void>>();
  protected readonly injected: { method: string; code: number; details: string; times: number }[] = [];
  protected readonly closing = new AbortController();
  protected readonly agents = {
    http: new http.Agent({ keepAlive: false }),
    https: new https.Agent({ keepAlive: false }),
  };
  protected readonly grpcServer = new grpc.Server();
  protected seq = 0;
  protected boundPort = 0;
  protected closePromise: Promise<void> | null = null;

  constructor(protected readonly options: TasksServerOptions = {}) {
    this.project = options.project ?? process.env.GOOGLE_CLOUD_PROJECT ?? 'test-project';
    this.location = options.location ?? 'us-central1';
    this.clock = options.clock ?? realClock;
    this.timeScale = options.timeScale ?? 1;
    if (!(this.timeScale > 0))
      throw new Error(`Expected \`timeScale\` to be a positive number, got ${this.timeScale}`);
    this.tombstoneMs = (options.tombstoneSeconds ?? 3600) * 1000;
    this.queueTombstoneMs = (options.queueTombstoneSeconds ?? 7 * 24 * 3600) * 1000;
    this.waitTimeoutMs = options.waitTimeoutMs ?? 20_000;
  }
}
