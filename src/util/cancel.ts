import { isSchedulerError, SchedulerError } from '../errors';

/** The signals that stop an execution (Ctrl-C, and Cloud Run's notice before it stops an instance). */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The conventional exit status of a process stopped by `signal` (128 + its number). */
export function exitCodeFor(signal: StopSignal): number {
  return signal === 'SIGINT' ? 130 : 143;
}

/**
 * The reason an execution was stopped by a signal, as opposed to its deadline: running collectors are
 * reported `cancelled`, not timed out.
 */
export class CancelledError extends SchedulerError {
  constructor(readonly signal: StopSignal) {
    super('CANCELLED', `${signal} received: the execution was cancelled and its running collectors aborted`, {
      details: { signal },
    });
    this.name = 'CancelledError';
  }
}

export function isCancellation(reason: unknown): reason is CancelledError {
  return isSchedulerError(reason, 'CANCELLED');
}

/** A signal that aborts when any of `signals` does, with its reason. */
export function eitherSignal(...signals: AbortSignal[]): AbortSignal {
  return AbortSignal.any(signals);
}
