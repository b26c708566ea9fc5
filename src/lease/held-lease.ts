import { isSchedulerError, SchedulerError } from '../errors';
import { isPreconditionFailed, type ObjectStore } from '../store/types';
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

/** Where a lease lives in the store. */
export function keyOf(name: string): string {
  return `leases/${name}.json`;
}

export interface RenewedLeaseDeps {
  store: ObjectStore;
  clock: Clock;
  logger: Logger;
  /** Given up this long before the expiry last written (the clock skew margin, at most a third of the TTL). */
  giveUpMarginMs: number;
}

/**
 * A lease this process holds: renewed every third of its TTL by compare-and-swap on the generation it
 * last wrote, given up (its `lost` signal aborted) when it could not be renewed before it expires or
 * someone took it over, and deleted at release.
 */
export class RenewedLease implements HeldLease {
  readonly name: string;
  readonly holder: string;
  private readonly controller = new AbortController();
  private readonly key: string;
  private released = false;
  private cancelTimer: () => void = () => undefined;
  private cancelExpiry: () => void = () => undefined;
  private renewing: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: RenewedLeaseDeps,
    private readonly record: LeaseRecord,
    private generation: string,
    private readonly ttlMs: number,
  ) {
    this.name = record.name;
    this.holder = record.holder;
    this.key = keyOf(record.name);
    this.expireAt(record.expiresAt);
    this.schedule();
  }

  get lost(): AbortSignal {
    return this.controller.signal;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.cancelTimer();
    this.cancelExpiry();
    await this.renewing;
    if (this.lost.aborted) return;
    try {
      await this.deps.store.delete(this.key, { ifGenerationMatch: this.generation });
    } catch (error) {
      // Not ours any more (taken over after expiry), or the store failed: it expires on its own.
      if (!isPreconditionFailed(error))
        this.deps.logger.warn(`lease ${this.name} not released: ${(error as Error).message}`, {
          lease: this.name,
        });
    }
  }

  private loseIt(why: string): void {
    if (this.lost.aborted) return;
    this.cancelTimer();
    this.cancelExpiry();
    this.deps.logger.error(`lease ${this.name} was lost: ${why}`, { lease: this.name, holder: this.holder });
    this.controller.abort(new LeaseLostError(this.name, why));
  }

  /** Not renewed by the skew margin before the expiry last written: give it up before anyone may take it. */
  private expireAt(expiresAt: number): void {
    const { clock, giveUpMarginMs } = this.deps;
    this.cancelExpiry();
    this.cancelExpiry = clock.schedule(expiresAt - giveUpMarginMs - clock.now(), () =>
      this.loseIt(`it could not be renewed before it expired at ${isoTime(expiresAt)}`),
    );
  }

  /**
   * The next renewal is scheduled before this one writes, so the cadence does not drift with the
   * store's latency; renewals run one after another, each with the generation the last one wrote.
   */
  private schedule(delay = this.ttlMs / 3): void {
    this.cancelTimer = this.deps.clock.schedule(delay, () => {
      this.renewing = this.renewing.then(() => this.renew());
    });
  }

  private async renew(): Promise<void> {
    if (this.released || this.lost.aborted) return;
    const { store, clock, logger } = this.deps;
    this.schedule();
    try {
      const next = { ...this.record, expiresAt: clock.now() + this.ttlMs };
      const written = await store.put(this.key, JSON.stringify(next), {
        contentType: 'application/json',
        ifGenerationMatch: this.generation,
      });
      if (this.lost.aborted) return;
      this.generation = written.generation;
      this.expireAt(next.expiresAt);
    } catch (error) {
      if (this.lost.aborted) return;
      if (isPreconditionFailed(error)) {
        this.loseIt('someone took it over after it expired');
      } else {
        // A store hiccup: try again soon; the lease is still ours until it expires.
        logger.warn(`lease ${this.name} renewal failed, retrying: ${(error as Error).message}`, {
          lease: this.name,
        });
        this.cancelTimer();
        this.schedule(Math.min(this.ttlMs / 3, Math.max(1_000, this.ttlMs / 10)));
      }
    }
  }
}
