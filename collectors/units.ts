import { errorMessage, SchedulerError } from '../src/errors';
import type { UnitFailure, UnitsSummary } from '../src/runtime/contract';
import { isRetryableRunError, PermanentError, SkipRun } from '../src/runtime/errors';
import type { RawOutput } from '../src/runtime/output';
import type { Logger } from '../src/util/log';
import { scrub } from '../src/util/secrets';

/**
 * Isolated units of work: a département, a year, a commune, a report and day. A unit that fails is
 * recorded with its reason and the others go on; the run then ends `success` with `units.failed > 0`
 * (reported as partial), or fails when every unit failed.
 */

/** Failures kept in a manifest; past this only the counts grow. */
export const MAX_RECORDED_FAILURES = 1000;
/** Failures repeated in the run's result (the report): enough to see what went wrong. */
export const MAX_REPORTED_FAILURES = 20;

/** Error codes that concern the whole run, not one unit: every other unit would fail the same way. */
const RUN_WIDE_CODES = new Set([
  'TOKEN_REFUSED',
  'TOKEN_LOGIN_FAILED',
  'COLLECTOR_TIMEOUT',
  'STORE_FORBIDDEN',
  'STORE_UNAVAILABLE',
  'STORE_URI_INVALID',
]);

/** A unit failure that must end the run: refused credentials, the deadline, a store that cannot be written. */
export function isRunWide(error: unknown, signal: AbortSignal): boolean {
  if (signal.aborted || error instanceof SkipRun) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && RUN_WIDE_CODES.has(code)) return true;
  if (error instanceof SchedulerError && error.details['scope'] === 'run') return true;
  // A bug is not a unit's bad luck: it would fail every unit, and hiding it in a partial run helps no one.
  if (error instanceof TypeError && !/fetch failed|terminated/i.test(error.message)) return true;
  return error instanceof RangeError || error instanceof ReferenceError;
}

export type UnitKind = 'succeeded' | 'skipped';

export class Units {
  private succeeded = 0;
  private skipped = 0;
  private failed = 0;
  private readonly failures: UnitFailure[] = [];
  private firstError: unknown = null;

  constructor(
    private readonly what: string,
    private readonly deps: { log: Logger; signal: AbortSignal; output: RawOutput },
  ) {}

  /**
   * Runs one unit. Resolves with its value, or undefined when it failed (recorded, logged); rethrows
   * what concerns the whole run (see isRunWide). `kind` says whether the value means work done or a skip.
   */
  async run<T>(unit: string, work: () => Promise<T>, kind?: (value: T) => UnitKind): Promise<T | undefined> {
    this.deps.signal.throwIfAborted();
    try {
      const value = await work();
      if ((kind?.(value) ?? 'succeeded') === 'skipped') this.skipped++;
      else this.succeeded++;
      return value;
    } catch (error) {
      if (isRunWide(error, this.deps.signal)) throw error;
      this.fail(unit, error);
      return undefined;
    }
  }

  /** Records a unit that failed without running (e.g. a configured year its release does not hold). */
  fail(unit: string, error: unknown): void {
    this.failed++;
    if (this.failed === 1) this.firstError = error;
    const failure: UnitFailure = {
      unit,
      error: scrub(errorMessage(error)),
      errorType: errorTypeOf(error),
      retryable: isRetryableRunError(error),
    };
    if (this.failures.length < MAX_RECORDED_FAILURES) this.failures.push(failure);
    this.deps.log.warn(`${unit} failed; the other ${this.what} go on`, {
      error: failure.error,
      errorType: failure.errorType,
    });
  }

  /** Records a unit with nothing to do, decided without running it. */
  skip(): void {
    this.skipped++;
  }

  summary(): UnitsSummary {
    return {
      total: this.succeeded + this.skipped + this.failed,
      succeeded: this.succeeded,
      skipped: this.skipped,
      failed: this.failed,
      failures: [...this.failures],
    };
  }

  /**
   * Ends the run's units: records them for the manifest, fails the run when every unit failed, and
   * answers the summary for the result (its failure list cut to the first few).
   */
  finish(): UnitsSummary {
    const summary = this.summary();
    this.deps.output.recordUnits(summary);
    if (summary.failed > 0 && summary.succeeded + summary.skipped === 0) {
      const first = summary.failures[0]!;
      // One cause for all (the network is down, the key is wrong): the run fails with that very error,
      // its type and message intact; the manifest lists every unit.
      if (summary.failures.every((f) => f.errorType === first.errorType)) throw this.firstError;
      const message = `every one of the ${summary.failed} ${this.what} failed (first: ${first.unit}: ${first.error})`;
      const details = { units: { ...summary, failures: summary.failures.slice(0, MAX_REPORTED_FAILURES) } };
      // Another attempt can help only if some unit failed for a passing reason.
      if (summary.failures.some((f) => f.retryable))
        throw new SchedulerError('COLLECTOR_FAILED', message, { details });
      throw new PermanentError(message, { details });
    }
    return { ...summary, failures: summary.failures.slice(0, MAX_REPORTED_FAILURES) };
  }
}

function errorTypeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'UPSTREAM_HTTP') return 'HTTPError';
  if (typeof code === 'string' && code.length > 0 && code === code.toUpperCase()) return code;
  return error instanceof Error ? error.name : 'Error';
}
