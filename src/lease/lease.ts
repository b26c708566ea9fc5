import { randomBytes } from 'node:crypto';
import { isPreconditionFailed, readJson, type ObjectStore } from '../store/types';
import { isoTime, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { keyOf, LeaseLostError, RenewedLease, type HeldLease, type LeaseRecord } from './held-lease';

export { isLeaseLost, LeaseLostError, type HeldLease, type LeaseRecord } from './held-lease';

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
        return {
          acquired: true,
          lease: new RenewedLease(
            {
              store: this.store,
              clock: this.clock,
              logger: this.logger,
              giveUpMarginMs: this.giveUpMarginMs(ttlMs),
            },
            record,
            written.generation,
            ttlMs,
          ),
        };
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
}
