import { CancelledError, exitCodeFor, isCancellation, STOP_SIGNALS, type StopSignal } from '../util/cancel';
import type { CliIO } from './types';

/**
 * SIGINT (Ctrl-C) and SIGTERM while a command runs: the first one aborts `signal`, so the execution
 * cancels its running collectors (reported `cancelled`, run records included), releases its leases,
 * writes its report within the report budget, and the command exits 130 (SIGINT) or 143 (SIGTERM). A
 * second one exits at once.
 */
export class StopSignals {
  private readonly controller = new AbortController();

  /**
   * `external`: a signal given by the caller (tests) instead of the process's; `listen`: whether to
   * listen to the process's signals (only for the real CLI process).
   */
  constructor(
    private readonly io: CliIO,
    private readonly external: AbortSignal | null,
    private readonly listen: boolean,
  ) {}

  get signal(): AbortSignal {
    return this.external ?? this.controller.signal;
  }

  /** Runs `command` with the signals listened to; its exit code, or the signal's when one stopped it. */
  async during(command: () => Promise<number>): Promise<number> {
    const listeners = this.listen && !this.external ? STOP_SIGNALS.map((name) => this.listenTo(name)) : [];
    try {
      const code = await command();
      const reason: unknown = this.signal.reason;
      return this.signal.aborted && isCancellation(reason) ? exitCodeFor(reason.signal) : code;
    } finally {
      for (const remove of listeners) remove();
    }
  }

  private listenTo(name: StopSignal): () => void {
    const onSignal = () => {
      if (this.controller.signal.aborted) {
        this.io.stderr(`${name} again: exiting now\n`);
        process.exit(exitCodeFor(name));
      }
      this.io.stderr(
        `${name} received: cancelling the running collectors and writing the report (${name} again exits now)\n`,
      );
      this.controller.abort(new CancelledError(name));
    };
    process.on(name, onSignal);
    return () => process.off(name, onSignal);
  }
}
