import { RequestError } from '../errors';
import { isPreconditionFailed, readJson, type ObjectStore } from '../store/types';
import { historyEntry } from '../history/entry';
import { HistoryIndex } from '../history/history-index';
import type { Logger } from '../util/log';
import type { ExecutionReport } from './report';

const EXECUTION_ID = /^(\d{4})(\d{2})(\d{2})T\d{6}Z-[a-z0-9]{6,16}$/;

export function isExecutionId(id: string): boolean {
  return EXECUTION_ID.test(id);
}

/** `<reports>/YYYY/MM/DD/<executionId>.json`, the date being the execution's start (UTC), as in its id. */
export function reportKey(executionId: string): string {
  const m = EXECUTION_ID.exec(executionId);
  if (!m) throw new RequestError(`"${executionId}" is not an execution id (like 20261122T020000Z-1a2b3c4d)`);
  return `${m[1]}/${m[2]}/${m[3]}/${executionId}.json`;
}

export const LATEST_KEY = 'latest.json';

export interface SaveResult {
  stored: boolean;
  location: string | null;
  error: string | null;
  /** Why no report was written on purpose (an empty tick); `error` is then null. */
  skipped?: string;
}

/** Reads and writes execution reports. */
export class ReportStore {
  constructor(
    private readonly store: ObjectStore,
    private readonly logger: Logger,
    /** For the history index's month rolls; tests pass their clock. */
    private readonly now: () => number = Date.now,
  ) {}

  get location(): string {
    return this.store.location;
  }

  /**
   * Stores the report, points latest.json at it and adds its line to the history index. If the store
   * fails (after its own retries), the whole report goes to the log as one structured entry, so it is
   * never lost.
   */
  async save(report: ExecutionReport): Promise<SaveResult> {
    const key = reportKey(report.execution_id);
    const body = JSON.stringify(report, null, 2) + '\n';
    try {
      await this.store.put(key, body, { contentType: 'application/json' });
    } catch (error) {
      const message = `execution report could not be stored at ${this.store.location}/${key}: ${(error as Error).message}`;
      // In full, split into parts if it is over Cloud Logging's entry size (see util/log-size.ts).
      this.logger.error(message, { executionId: report.execution_id, reportKey: key, report });
      return { stored: false, location: null, error: message };
    }
    try {
      await this.updateLatest(report, body);
    } catch (error) {
      // The dated report is safe; only the pointer is stale.
      this.logger.warn(`latest.json not updated: ${(error as Error).message}`, {
        executionId: report.execution_id,
      });
    }
    await new HistoryIndex(this.store, this.logger, this.now).append(historyEntry(report));
    return { stored: true, location: `${this.store.location}/${key}`, error: null };
  }

  /**
   * latest.json only moves forward: an execution that started earlier never replaces a later one. One
   * that is not a readable report (truncated, hand-edited) is replaced, and the log says so.
   */
  private async updateLatest(report: ExecutionReport, body: string): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.store.get(LATEST_KEY);
      const startTime = current ? startTimeOf(current.data) : null;
      if (startTime !== null && startTime > report.start_time) return;
      try {
        await this.store.put(LATEST_KEY, body, {
          contentType: 'application/json',
          ifGenerationMatch: current?.generation ?? 0,
        });
      } catch (error) {
        if (!isPreconditionFailed(error)) throw error;
        continue;
      }
      if (current && startTime === null) {
        this.logger.warn(
          `${this.store.location}/${LATEST_KEY} was not a readable report (${current.data.length} bytes); replaced`,
          { executionId: report.execution_id },
        );
      }
      return;
    }
  }

  async latest(): Promise<ExecutionReport | null> {
    return (await readJson<ExecutionReport>(this.store, LATEST_KEY))?.value ?? null;
  }

  async get(executionId: string): Promise<ExecutionReport | null> {
    return (await readJson<ExecutionReport>(this.store, reportKey(executionId)))?.value ?? null;
  }
}

/** The `start_time` of a stored report, or null if the bytes are not one. */
function startTimeOf(data: Buffer): string | null {
  try {
    const value = JSON.parse(data.toString('utf8')) as { start_time?: unknown } | null;
    return typeof value?.start_time === 'string' ? value.start_time : null;
  } catch {
    return null;
  }
}
