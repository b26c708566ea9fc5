/** While waiting on another process's login, the lease itself is looked at every this many polls. */
export const LEASE_LOOK_EVERY = 3;

/** The broker's polling settings (TokenBrokerSettings). */
export interface PollSettings {
  pollInitialMs: number;
  pollMaxMs: number;
  pollFactor: number;
}

export interface PollInput {
  /** Polls done so far in this wait. */
  poll: number;
  nowMs: number;
  /** When the awaited login's lease was taken (the holder's clock). */
  leaseAcquiredMs: number;
  /** How long the account's previous login took, if known. */
  lastLoginMs: number | null;
  random: () => number;
}

/**
 * How long a waiter sleeps before its next look at the token. When the account's previous login took
 * `lastLoginMs`, the first look waits until just before this one should finish; after that (or with no
 * history) looks come at a growing interval, so the finished login is seen within about
 * `pollFactor - 1` of the time already waited, while a long wait costs few reads.
 */
export function pollDelayMs(input: PollInput, settings: PollSettings): number {
  if (input.lastLoginMs !== null && input.poll === 0) {
    const expectedAt = input.leaseAcquiredMs + input.lastLoginMs * 0.9;
    if (expectedAt - input.nowMs > settings.pollInitialMs) return Math.ceil(expectedAt - input.nowMs);
  }
  const step = Math.min(settings.pollMaxMs, settings.pollInitialMs * settings.pollFactor ** input.poll);
  return Math.ceil(step * (0.8 + 0.2 * input.random()));
}
