import type {
  CollectorOutcome,
  Dispatcher,
  DispatchOptions,
  DispatchTarget,
  ProgressListener,
} from '../dispatch/types';
import { abortedOutcome } from '../dispatch/types';
import { errorMessage, SchedulerError } from '../errors';
import { untilAborted } from '../util/abort';
import type { Clock } from '../util/clock';

/**
 * The time an execution has once its dispatch is over, or stopped (deadline, signal): the dispatcher
 * gets the first half of it to settle (abort its calls, release its leases), the report the whole of it.
 * Past that the report is only logged, and answered.
 */
export class ReportBudget {
  private readonly settleController = new AbortController();
  private readonly reportController = new AbortController();
  private cancels: Array<() => void> = [];
  private started = false;

  constructor(
    private readonly clock: Clock,
    private readonly budgetMs: number,
  ) {}

  /** Aborted half-way through the budget: stop waiting for the dispatcher. */
  get settle(): AbortSignal {
    return this.settleController.signal;
  }

  /** Aborted at the end of the budget: stop waiting for the report to be stored. */
  get report(): AbortSignal {
    return this.reportController.signal;
  }

  get seconds(): number {
    return this.budgetMs / 1000;
  }

  /** Starts the budget (once): when the dispatch ends or is stopped, whichever comes first. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const over = (what: string) =>
      new SchedulerError(
        'COLLECTOR_TIMEOUT',
        `${what} within scheduler.report_budget_seconds (${this.seconds} s) after the dispatch ended`,
      );
    this.cancels = [
      this.clock.schedule(this.budgetMs / 2, () =>
        this.settleController.abort(over('the dispatcher did not settle')),
      ),
      this.clock.schedule(this.budgetMs, () =>
        this.reportController.abort(over('the report was not stored')),
      ),
    ];
  }

  clear(): void {
    for (const cancel of this.cancels) cancel();
  }
}

export interface DeadlineOptions {
  clock: Clock;
  deadlineMs: number;
  deadlineReason: unknown;
  /** A signal stopping the process (its reason a CancelledError). */
  shutdown: AbortSignal;
  budget: ReportBudget;
  force: boolean;
  onProgress?: ProgressListener | undefined;
  /** Passed to the dispatcher (schedule/gate.ts). */
  beforeDispatch?: DispatchOptions['beforeDispatch'] | undefined;
}

export interface DeadlineResult {
  outcomes: CollectorOutcome[];
  /** The deadline's or the signal's reason, if the dispatch was stopped. */
  stoppedBy: unknown;
  /** Whether any collector was called (or any Cloud Task created): whether anything may have run. */
  dispatchedAny: boolean;
}

/**
 * Dispatches, and stops at the deadline or at a signal: the dispatcher's calls are aborted and it
 * reports what it was doing as timed out (or cancelled). A dispatcher that does not return within half
 * the report budget after that is no longer waited for: collectors it reported finished keep their
 * outcomes, the others are reported aborted. Never throws: a dispatcher's bug becomes each collector's
 * failure, so there is always a report.
 */
export async function dispatchUntilDeadline(
  dispatcher: Dispatcher,
  targets: readonly DispatchTarget[],
  options: DeadlineOptions,
): Promise<DeadlineResult> {
  const { clock, shutdown, budget } = options;
  const stop = new AbortController();
  const deadlineAtMs = clock.now() + options.deadlineMs;
  const cancelDeadline = clock.schedule(options.deadlineMs, () => stop.abort(options.deadlineReason));
  const onShutdown = () => stop.abort(shutdown.reason);
  if (shutdown.aborted) onShutdown();
  else shutdown.addEventListener('abort', onShutdown, { once: true });
  stop.signal.addEventListener('abort', () => budget.start(), { once: true });

  const finished = new Map<string, CollectorOutcome>();
  let startedAny = false;
  const listener: ProgressListener = (event) => {
    if (event.type === 'start') startedAny = true;
    if (event.type === 'finish') finished.set(event.outcome.name, event.outcome);
    options.onProgress?.(event);
  };
  const result = (outcomes: CollectorOutcome[]): DeadlineResult => ({
    outcomes,
    stoppedBy: stop.signal.aborted ? stop.signal.reason : null,
    dispatchedAny: startedAny || outcomes.some((o) => o.attempts > 0),
  });
  try {
    const outcomes = await untilAborted(
      dispatcher.dispatch(targets, {
        signal: stop.signal,
        // So that no retry waits past it (util/retry.ts's deadline).
        deadlineAtMs,
        force: options.force,
        onProgress: listener,
        ...(options.beforeDispatch ? { beforeDispatch: options.beforeDispatch } : {}),
      }),
      budget.settle,
    );
    return result(outcomes);
  } catch (error) {
    const settled = budget.settle.aborted;
    const why = settled
      ? { ...abortedOutcome(stop.signal.reason, '; the dispatch did not settle in time') }
      : {
          status: 'failed' as const,
          error: `internal error: ${errorMessage(error)}`,
          errorType: 'InternalError',
        };
    const outcomes = targets.map(
      (t): CollectorOutcome =>
        finished.get(t.name) ?? {
          name: t.name,
          httpStatus: null,
          startMs: null,
          endMs: null,
          attempts: 0,
          result: null,
          ...why,
        },
    );
    return result(outcomes);
  } finally {
    cancelDeadline();
    shutdown.removeEventListener('abort', onShutdown);
    budget.start();
  }
}
