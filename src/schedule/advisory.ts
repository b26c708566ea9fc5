import { errorMessage } from '../errors';
import type { Services } from '../services';
import { untilAborted } from '../util/abort';
import { timeoutSignal } from '../util/clock';

/**
 * How long an execution waits for state it reads only to decide what runs (pauses, watermarks): a
 * state store that is down or slow must not stop a manual run, nor a tick whose claim was taken.
 * @default 3 s
 */
export const POLICY_READ_BUDGET_MS = 3_000;

/** `read()` within POLICY_READ_BUDGET_MS, else `fallback`, with a warning for the report and the log. */
export async function advisory<T>(
  services: Pick<Services, 'clock' | 'logger'>,
  read: () => Promise<T>,
  fallback: T,
  warning: (why: string) => string,
  warnings: string[],
): Promise<T> {
  const budget = timeoutSignal(
    services.clock,
    POLICY_READ_BUDGET_MS,
    new Error(`not read within ${POLICY_READ_BUDGET_MS / 1000} s`),
  );
  const reading = read();
  try {
    return await untilAborted(reading, budget.signal);
  } catch (error) {
    reading.catch(() => undefined);
    const text = warning(errorMessage(error));
    services.logger.warn(text);
    warnings.push(text);
    return fallback;
  } finally {
    budget.clear();
  }
}
