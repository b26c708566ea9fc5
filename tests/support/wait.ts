/** A wait that never ends is a failing test; it must not keep jest busy after its own timeout. */
const GIVE_UP_MS = 60_000;

/**
 * Resolves once `predicate()` holds, checking after each turn of the event loop. This waits for an
 * event the test can observe (a progress callback, a request on a server, an object in a store), never
 * for an amount of time; the real-time bound only stops a broken test from spinning for ever.
 */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  description = 'condition',
): Promise<void> {
  const giveUpAt = Date.now() + GIVE_UP_MS;
  while (!(await predicate())) {
    if (Date.now() > giveUpAt)
      throw new Error(`until(): ${description} not reached within ${GIVE_UP_MS / 1000} s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
