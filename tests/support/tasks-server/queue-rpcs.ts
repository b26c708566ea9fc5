import type { QueueMessage, TasksRequestMessage } from './messages';
import { QUEUE_DEFAULTS, QUEUE_ID, QUEUE_NAME, QUEUE_NOT_FOUND, TASK_NOT_FOUND } from './records';
import {
  camelPath,
  invalid,
  messageToConfig,
  type Queue,
  type QueueConfig,
  RpcError,
  S,
  stampOf,
} from './internals';
import { TasksDelivery } from './delivery';

/** The queue methods of the CloudTasks service. */
export abstract class TasksQueueRpcs extends TasksDelivery {
  // ---- queues ----

  protected rpcCreateQueue(request: TasksRequestMessage): QueueMessage {
    const parent = request.parent ?? '';
    const name = request.queue?.name ?? '';
    const match = QUEUE_NAME.exec(name);
    if (!match || !QUEUE_ID.test(match[3]!)) {
      throw invalid(
        'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".',
      );
    }
    if (!name.startsWith(`${parent}/queues/`)) throw invalid(`${name} must begin with ${parent}.`);
    if (this.queues.has(name)) throw new RpcError(S.ALREADY_EXISTS, 'Queue already exists');
    if (this.recentlyDeleted(this.queueTombstones, name, this.queueTombstoneMs)) {
      throw new RpcError(
        S.FAILED_PRECONDITION,
        'The queue cannot be created because a queue with this name existed too recently.',
      );
    }
    const config = this.validateConfig(messageToConfig(request.queue ?? {}, QUEUE_DEFAULTS, null));
    const queue = this.addQueue(name, config, 'RUNNING');
    queue.stackdriverLoggingConfig = request.queue?.stackdriverLoggingConfig ?? null;
    return this.renderQueue(queue);
  }

  /** Like the real one: updates the given fields (all of them without a mask) or creates the queue. */
  protected rpcUpdateQueue(request: TasksRequestMessage): QueueMessage {
    const message = request.queue ?? {};
    const name = message.name ?? '';
    const match = QUEUE_NAME.exec(name);
    if (!match || !QUEUE_ID.test(match[3]!)) {
      throw invalid(
        'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".',
      );
    }
    const paths = (request.updateMask?.paths ?? []).map(camelPath);
    const known = /^(rateLimits|retryConfig|stackdriverLoggingConfig|appEngineRoutingOverride)(\.|$)/;
    const unknown = paths.find((p) => !known.test(p));
    if (unknown) throw invalid(`Invalid field mask path: "${unknown}".`);
    const existing = this.queues.get(name);
    const base = existing?.config ?? QUEUE_DEFAULTS;
    const config = this.validateConfig(messageToConfig(message, base, paths.length > 0 ? paths : null));
    if (!existing) {
      if (this.recentlyDeleted(this.queueTombstones, name, this.queueTombstoneMs)) {
        throw new RpcError(
          S.FAILED_PRECONDITION,
          'The queue cannot be created because a queue with this name existed too recently.',
        );
      }
      return this.renderQueue(this.addQueue(name, config, 'RUNNING'));
    }
    existing.config = config;
    if (message.stackdriverLoggingConfig)
      existing.stackdriverLoggingConfig = message.stackdriverLoggingConfig;
    this.pump(existing);
    return this.renderQueue(existing);
  }

  protected rpcListQueues(request: TasksRequestMessage): object {
    const prefix = `${request.parent ?? ''}/queues/`;
    const all = [...this.queues.values()].filter((q) => q.name.startsWith(prefix));
    const pageSize = Math.min(request.pageSize || 9800, 9800);
    const start = Number(request.pageToken || 0);
    const next = start + pageSize < all.length ? String(start + pageSize) : '';
    return {
      queues: all.slice(start, start + pageSize).map((q) => this.renderQueue(q)),
      nextPageToken: next,
    };
  }

  protected rpcDeleteQueue(request: TasksRequestMessage): object {
    const queue = this.queues.get(request.name ?? '');
    if (!queue) throw new RpcError(S.NOT_FOUND, TASK_NOT_FOUND);
    for (const entry of [...queue.active]) this.finish(entry, 'deleted');
    queue.rateWake?.abort();
    this.queues.delete(queue.name);
    this.queueTombstones.set(queue.name, this.clock.now());
    return {};
  }

  protected rpcPurgeQueue(request: TasksRequestMessage): QueueMessage {
    const queue = this.requireQueue(request.name);
    for (const entry of [...queue.active]) this.finish(entry, 'deleted');
    queue.purgeTime = this.clock.now();
    return this.renderQueue(queue);
  }

  protected setQueueState(name: string | undefined, state: 'RUNNING' | 'PAUSED'): QueueMessage {
    const queue = this.requireQueue(name);
    queue.state = state;
    this.pump(queue);
    return this.renderQueue(queue);
  }

  protected requireQueue(name: string | undefined): Queue {
    const queue = this.queues.get(name ?? '');
    if (!queue) throw new RpcError(S.NOT_FOUND, QUEUE_NOT_FOUND);
    return queue;
  }

  protected addQueue(name: string, config: QueueConfig, state: 'RUNNING' | 'PAUSED'): Queue {
    const queue: Queue = {
      name,
      config,
      state,
      purgeTime: null,
      stackdriverLoggingConfig: null,
      active: new Set(),
      inFlight: 0,
      maxInFlight: 0,
      tokens: config.maxBurstSize,
      tokensAt: this.clock.now(),
      rateWake: null,
    };
    this.queues.set(name, queue);
    this.queueTombstones.delete(name);
    return queue;
  }

  protected validateConfig(config: QueueConfig): QueueConfig {
    const c = config;
    if (c.maxDispatchesPerSecond < 0) throw invalid('RateLimits.maxDispatchesPerSecond cannot be negative.');
    if (c.maxDispatchesPerSecond > 500) {
      throw invalid('RateLimits.maxDispatchesPerSecond must be less than or equal to 500.');
    }
    if (c.maxConcurrentDispatches < 0)
      throw invalid('RateLimits.maxConcurrentDispatches cannot be negative.');
    if (c.maxConcurrentDispatches > 5000) {
      throw invalid('RateLimits.maxConcurrentDispatches must be less than or equal to 5000.');
    }
    if (c.maxAttempts < -1) throw invalid('RetryConfig.maxAttempts must be greater or equal to -1.');
    if (c.maxDoublings < 0) throw invalid('RetryConfig.maxDoublings cannot be negative.');
    if (c.minBackoffMs < 0) throw invalid('RetryConfig.minBackoff cannot be negative.');
    if (c.maxBackoffMs < 0) throw invalid('RetryConfig.maxBackoff cannot be negative.');
    if (c.minBackoffMs > c.maxBackoffMs) {
      throw invalid('RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff.');
    }
    if (c.maxRetryDurationMs < 0) throw invalid('RetryConfig.maxRetryDuration cannot be negative.');
    return Object.freeze({ ...c });
  }

  protected renderQueue(queue: Queue): QueueMessage {
    const c = queue.config;
    return {
      name: queue.name,
      rateLimits: {
        maxDispatchesPerSecond: c.maxDispatchesPerSecond,
        maxBurstSize: c.maxBurstSize,
        maxConcurrentDispatches: c.maxConcurrentDispatches,
      },
      retryConfig: {
        maxAttempts: c.maxAttempts,
        maxRetryDuration: stampOf(c.maxRetryDurationMs),
        minBackoff: stampOf(c.minBackoffMs),
        maxBackoff: stampOf(c.maxBackoffMs),
        maxDoublings: c.maxDoublings,
      },
      state: queue.state,
      ...(queue.purgeTime !== null ? { purgeTime: stampOf(queue.purgeTime) } : {}),
      ...(queue.stackdriverLoggingConfig ? { stackdriverLoggingConfig: queue.stackdriverLoggingConfig } : {}),
    };
  }

  protected recentlyDeleted(tombstones: Map<string, number>, name: string, windowMs: number): boolean {
    const at = tombstones.get(name);
    if (at === undefined) return false;
    if (this.clock.now() - at < windowMs) return true;
    tombstones.delete(name);
    return false;
  }
}
