import type { DispatchMode } from '../config/types';
import type { CollectorStatus } from '../dispatch/types';
import type { ExecutionReport } from '../report/report';

/** One collector's run inside a history entry: enough for a timeline row and the planner. */
export interface HistoryRun {
  status: CollectorStatus;
  start_time: string | null;
  duration_seconds: number | null;
  attempts: number;
  error_type: string | null;
}

/**
 * One line of the history index: an execution in a few hundred bytes, written when its report is saved,
 * so that `scheduler history` and `GET /reports` never read the reports themselves.
 */
export interface HistoryEntry {
  execution_id: string;
  start_time: string;
  end_time: string;
  duration_seconds: number;
  /** `source/kind`, e.g. `cloud-scheduler/tick`. */
  trigger: string;
  scheduled_time: string;
  job_name: string | null;
  mode: DispatchMode;
  summary: ExecutionReport['summary'];
  collectors: Record<string, HistoryRun>;
}

export function historyEntry(report: ExecutionReport): HistoryEntry {
  const collectors: Record<string, HistoryRun> = {};
  for (const [name, c] of Object.entries(report.collectors)) {
    collectors[name] = {
      status: c.status,
      start_time: c.start_time,
      duration_seconds: c.duration_seconds,
      attempts: c.attempts,
      error_type: c.error_type,
    };
  }
  return {
    execution_id: report.execution_id,
    start_time: report.start_time,
    end_time: report.end_time,
    duration_seconds: report.duration_seconds,
    trigger: `${report.trigger.source}/${report.trigger.kind}`,
    scheduled_time: report.trigger.scheduled_time,
    job_name: report.trigger.job_name,
    mode: report.mode,
    summary: report.summary,
    collectors,
  };
}

/** Newest first; the execution id breaks ties between executions started in the same millisecond. */
export function newestFirst(a: HistoryEntry, b: HistoryEntry): number {
  if (a.start_time !== b.start_time) return a.start_time < b.start_time ? 1 : -1;
  return a.execution_id < b.execution_id ? 1 : a.execution_id > b.execution_id ? -1 : 0;
}

/** JSON lines, one entry a line; a line that does not parse is skipped (and counted by the caller). */
export function parseLines(text: string): { entries: HistoryEntry[]; bad: number } {
  const entries: HistoryEntry[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value = JSON.parse(line) as HistoryEntry;
      if (typeof value.execution_id === 'string' && typeof value.start_time === 'string') entries.push(value);
      else bad++;
    } catch {
      bad++;
    }
  }
  return { entries, bad };
}

export function toLines(entries: readonly HistoryEntry[]): string {
  return entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length > 0 ? '\n' : '');
}
