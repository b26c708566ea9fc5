/**
 * Resolves once `predicate()` holds, checking after each turn of the event loop. This waits for an
 * event the test can observe (a progress callback, a request on a server, an object in a store), never
 * for an amount of time.
 */
export async function until(predicate: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((resolve) => setImmediate(resolve));
}
