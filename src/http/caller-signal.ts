import type { CollectorRuntime } from '../runtime/run-collector';
import { eitherSignal } from '../util/cancel';

/** The runtime for one request's run: it also stops when the caller stops waiting (embedded server). */
export function withCallerSignal(
  runtime: CollectorRuntime,
  caller: AbortSignal | undefined,
): CollectorRuntime {
  if (!caller) return runtime;
  return { ...runtime, shutdown: runtime.shutdown ? eitherSignal(runtime.shutdown, caller) : caller };
}
