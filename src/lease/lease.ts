import { randomBytes } from 'node:crypto';
import { isSchedulerError, SchedulerError } from '../errors';
import { isPreconditionFailed, readJson, type ObjectStore } from '../store/types';
import { isoTime, type Clock } from '../util/clock';
import type { Logger } from '../util/log';

/** What a lease object holds: who has it and until when (epoch ms, the holder's clock). */
export interface LeaseRecord {
  name: string;
  /** Unique per acquisition: `<executionId>/<collector>/<random>`. */
  holder: string;
  executionId: string;
  acquiredAt: string;
  expiresAt: number;
}

export interface HeldLease {
  readonly name: string;
  readonly holder: string;
  /** Aborted if the lease was lost (not renewed in time and taken by someone else). */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export type AcquireResult = { acquired: true; lease: HeldLease } | { acquired: false; holder: LeaseRecord };

export interface LeaseOptions {
  /** How long the lease lives without renewal: a dead holder's lease expires after this. */
  ttlMs: number;
  /** How long to keep trying while someone else holds it. */
  waitMs: number;
  signal?: AbortSignal;
}

/** The lease object guarding a credential group. */
export function groupLeaseName(group: string): string {
  return `group-${group}`;
}

/**
 * The scheduler names the group lease it holds for a collector in this header, so that our collector
 * route runs under it instead of waiting for itself.
 */
export const GROUP_LEASE_HEADER = 'x-scheduler-group-lease';

/** A lease expires this long after its last renewal; renewed every third of it while held. */
export const DEFAULT_LEASE_TTL_MS = 60_000;

/**
 * The clock skew between instances a lease allows for. Its holder gives it up this long before the
 * expiry it last wrote (on its clock); others take it over only this long after that expiry (on
 * theirs). Two clocks up to twice this apart never both believe they hold it. Google Cloud instances
 * keep their clocks within milliseconds (NTP from the metadata server); this leaves room for worse.
 * @default 5 s
 */
export const LEASE_CLOCK_SKEW_MS = 5_000;

/** A lease its holder could not renew in time, or that someone else took over: the holder stops. */
export class LeaseLostError extends SchedulerError {
  /** For run records and reports: the collector was stopped because its group lease was lost. */
  readonly errorType = 'LeaseLost';
  readonly reason = 'lease_lost';

  constructor(name: string, why: string) {
    super('LEASE_LOST', `lease ${name} lost: ${why}; stopped so as not to run beside its next holder`, {
      details: { lease: name },
    });
    this.name = 'LeaseLostError';
  }
}

/** What a held lease's `lost` signal aborts with. */
export function isLeaseLost(reason: unknown): reason is LeaseLostError {
  return isSchedulerError(reason, 'LEASE_LOST');
}

/**
 * Mutual exclusion across processes and instances through the object store: a lease is an object
 * created with `ifGenerationMatch: 0`, renewed with the generation it was written with, taken over by
 * compare-and-swap once expired (its holder died: kill -9, a crashed instance) and deleted at release.
 * The store's conditional writes are the only arbiter, so it works the same on Cloud Storage and on
 * the local filesystem.
 */
export class LeaseManager {
  constructor(
    private readonly store: ObjectStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
    /** The longest wait between two looks at a busy lease. */
    private readonly maxPollMs = 2_000,
    /** The life of a group lease between renewals. */
    readonly ttlMs = DEFAULT_LEASE_TTL_MS,
    private readonly skewMs = LEASE_CLOCK_SKEW_MS,
  ) {}

  static holderId(executionId: string, collector: string): string {
    return `${executionId}/${collector}/${randomBytes(4).toString('hex')}`;
  }

  async acquire(name: string, holder: string, options: LeaseOptions): Promise<AcquireResult> {
    const giveUpAt = this.clock.now() + options.waitMs;
    for (let attempt = 0; ; attempt++) {
      const result = await this.tryAcquire(name, holder, options.ttlMs);
      if (result.acquired) return result;
      const now = this.clock.now();
      if (now >= giveUpAt || options.signal?.aborted) return result;
      // Poll with capped exponential backoff and jitter, never past the wait limit or the holder's expiry.
      const backoff = Math.min(this.maxPollMs, 50 * 2 ** attempt) * (0.5 + this.random() / 2);
      const untilExpiry = Math.max(0, this.takeoverAt(result.holder) - now) + 1;
      try {
        await this.clock.sleep(Math.min(backoff, untilExpiry, giveUpAt - now), options.signal);
      } catch {
        return result;
      }
    }
  }

  /** One attempt: take the lease if free or expired, else say who holds it. */
  async tryAcquire(name: string, holder: string, ttlMs: number): Promise<AcquireResult> {
    const key = keyOf(name);
    for (;;) {
      const now = this.clock.now();
      const record: LeaseRecord = {
        name,
        holder,
        executionId: holder.split('/')[0] ?? holder,
        acquiredAt: new Date(now).toISOString(),
        expiresAt: now + ttlMs,
      };
      const current = await readJson<LeaseRecord>(this.store, key);
      if (current && this.held(current.value, now)) return { acquired: false, holder: current.value };
      try {
        const written = await this.store.put(key, JSON.stringify(record), {
          contentType: 'application/json',
          ifGenerationMatch: current?.generation ?? 0,
        });
        if (current)
          this.logger.warn(`lease ${name} taken over from ${current.value.holder}, which let it expire`, {
            lease: name,
          });
        return { acquired: true, lease: this.hold(record, written.generation, ttlMs) };
      } catch (error) {
        // Someone else created or took it between our read and write: look again.
        if (!isPreconditionFailed(error)) throw error;
      }
    }
  }

  /** The current holder, if the lease is held and not expired. */
  async current(name: string): Promise<LeaseRecord | null> {
    const found = await readJson<LeaseRecord>(this.store, keyOf(name));
    return found && this.held(found.value, this.clock.now()) ? found.value : null;
  }

  /** When others may take `record` over: the skew margin after its expiry. */
  takeoverAt(record: LeaseRecord): number {
    return record.expiresAt + this.skewMs;
  }

  private held(record: LeaseRecord, now: number): boolean {
    return this.takeoverAt(record) > now;
  }

  /** How long before the expiry it wrote a holder gives a lease up (a quarter of a short lease at most). */
  private giveUpMarginMs(ttlMs: number): number {
    return Math.min(this.skewMs, ttlMs / 4);
  }

  /**
   * Watches a lease someone else holds on our behalf (the scheduler, for the collector it calls): the
   * signal aborts once the record names another holder, or has not been renewed past its expiry less
   * the skew margin. It is read again every third of `ttlMs`, the holder's renewal period.
   */
  watch(record: LeaseRecord, ttlMs: number): { lost: AbortSignal; stop(): void } {
    const lost = new AbortController();
    const margin = this.giveUpMarginMs(ttlMs);
    let cancelExpiry = () => {};
    let cancelPoll = () => {};
    const stop = () => {
      cancelExpiry();
      cancelPoll();
    };
    const fail = (why: string) => {
      stop();
      if (!lost.signal.aborted) lost.abort(new LeaseLostError(record.name, why));
    };
    const expireAt = (expiresAt: number) => {
      cancelExpiry();
      cancelExpiry = this.clock.schedule(expiresAt - margin - this.clock.now(), () =>
        fail(`its holder did not renew it before ${isoTime(expiresAt)}`),
      );
    };
    const poll = () => {
      cancelPoll = this.clock.schedule(ttlMs / 3, () => {
        void readJson<LeaseRecord>(this.store, keyOf(record.name)).then(
          (found) => {
            if (lost.signal.aborted) return;
            if (found?.value.holder !== record.holder)
              return fail(`it is now held by ${found?.value.holder ?? 'nobody'}`);
            expireAt(found.value.expiresAt);
            poll();
          },
          // A store hiccup: the expiry last seen still stands.
          () => !lost.signal.aborted && poll(),
        );
      });
    };
    expireAt(record.expiresAt);
    poll();
    return { lost: lost.signal, stop };
  }

  private hold(record: LeaseRecord, firstGeneration: string, ttlMs: number): HeldLease {
    const key = keyOf(record.name);
    const lost = new AbortController();
    let generation = firstGeneration;
    let released = false;
    let cancelTimer: () => void = () => undefined;
    let cancelExpiry: () => void = () => undefined;
    let renewing: Promise<void> = Promise.resolve();

    const loseIt = (why: string) => {
      if (lost.signal.aborted) return;
      cancelTimer();
      cancelExpiry();
      this.logger.error(`lease ${record.name} was lost: ${why}`, {
        lease: record.name,
        holder: record.holder,
      });
      lost.abort(new LeaseLostError(record.name, why));
    };
    // Not renewed by the skew margin before the expiry last written: give it up before anyone may take it.
    const expireAt = (expiresAt: number) => {
      cancelExpiry();
      cancelExpiry = this.clock.schedule(expiresAt - this.giveUpMarginMs(ttlMs) - this.clock.now(), () =>
        loseIt(`it could not be renewed before it expired at ${isoTime(expiresAt)}`),
      );
    };
    expireAt(record.expiresAt);

    // The next renewal is scheduled before this one writes, so the cadence does not drift with the
    // store's latency; renewals run one after another, each with the generation the last one wrote.
    const renew = async () => {
      if (released || lost.signal.aborted) return;
      schedule();
      try {
        const next = { ...record, expiresAt: this.clock.now() + ttlMs };
        const written = await this.store.put(key, JSON.stringify(next), {
          contentType: 'application/json',
          ifGenerationMatch: generation,
        });
        if (lost.signal.aborted) return;
        generation = written.generation;
        expireAt(next.expiresAt);
      } catch (error) {
        if (lost.signal.aborted) return;
        if (isPreconditionFailed(error)) {
          loseIt('someone took it over after it expired');
        } else {
          // A store hiccup: try again soon; the lease is still ours until it expires.
          this.logger.warn(`lease ${record.name} renewal failed, retrying: ${(error as Error).message}`, {
            lease: record.name,
          });
          cancelTimer();
          schedule(Math.min(ttlMs / 3, Math.max(1_000, ttlMs / 10)));
        }
      }
    };
    const schedule = (delay = ttlMs / 3) => {
      cancelTimer = this.clock.schedule(delay, () => {
        renewing = renewing.then(renew);
      });
    };
    schedule();

    return {
      name: record.name,
      holder: record.holder,
      lost: lost.signal,
      release: async () => {
        if (released) return;
        released = true;
        cancelTimer();
        cancelExpiry();
        await renewing;
        if (lost.signal.aborted) return;
        try {
          await this.store.delete(key, { ifGenerationMatch: generation });
        } catch (error) {
          // Not ours any more (taken over after expiry), or the store failed: it expires on its own.
          if (!isPreconditionFailed(error))
            this.logger.warn(`lease ${record.name} not released: ${(error as Error).message}`, {
              lease: record.name,
            });
        }
      },
    };
  }
}

function keyOf(name: string): string {
  return `leases/${name}.json`;
}
