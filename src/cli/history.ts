import type { HistoryEntry } from '../history/entry';
import {
  historyDeps,
  readHistory,
  rebuildHistory,
  successfulMedian,
  type CollectorRunLine,
} from '../history/history';
import { parseHistoryQuery } from '../history/query';
import { table } from './format';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';
import { withServices } from './with-services';

export interface HistoryOptions {
  collector?: string;
  since?: string;
  limit?: string;
  json?: boolean;
  rebuild?: boolean;
}

/** `scheduler history`: executions newest first, from the history index; per collector its runs. */
export async function historyCommand(
  options: HistoryOptions,
  global: GlobalOptions,
  loadServices: ServicesLoader,
  io: CliIO,
): Promise<number> {
  return withServices(loadServices, global, async (services) => {
    const deps = historyDeps(services);
    if (options.rebuild) {
      const { reports, days } = await rebuildHistory(deps);
      io.stderr(`history index rebuilt from ${reports} reports (${days} days)\n`);
    }
    const query = parseHistoryQuery(options, services.config, (name) => `--${name}`);
    const result = await readHistory(deps, query);
    if (options.json) {
      io.stdout(JSON.stringify(result, null, 2) + '\n');
      return EXIT.ok;
    }
    if (result.entries.length === 0) {
      io.stdout(`no executions${query.collector ? ` of ${query.collector}` : ''} in the history index\n`);
      return EXIT.ok;
    }
    if (result.runs && query.collector) io.stdout(runsTable(query.collector, result.runs) + '\n');
    else io.stdout(historyTable(result.entries) + '\n');
    return EXIT.ok;
  });
}

/** One line per execution: time, trigger, mode, counts, duration. */
export function historyTable(entries: readonly HistoryEntry[]): string {
  return table(
    ['STARTED (UTC)', 'TRIGGER', 'MODE', 'OK', 'FAILED', 'SKIPPED', 'PENDING', 'DURATION', 'EXECUTION'],
    entries.map((e) => [
      shortTime(e.start_time),
      e.trigger,
      e.mode,
      String(e.summary.succeeded),
      String(e.summary.failed),
      String(e.summary.skipped),
      String(e.summary.scheduled + e.summary.running),
      seconds(e.duration_seconds),
      e.execution_id,
    ]),
    160,
  );
}

/** A collector's runs, newest first, under a line with its median successful duration. */
export function runsTable(collector: string, runs: readonly CollectorRunLine[]): string {
  const median = successfulMedian(runs.map((r) => r.run));
  const failed = runs.filter((r) => r.run.status === 'failed').length;
  const head = `${collector}: ${runs.length} run${runs.length === 1 ? '' : 's'}, ${failed} failed${median === null ? '' : `, median successful run ${seconds(median)}`}`;
  const rows = runs.map((r) => [
    shortTime(r.run.start_time ?? r.start_time),
    r.run.status,
    r.run.duration_seconds === null ? '-' : seconds(r.run.duration_seconds),
    String(r.run.attempts),
    r.run.error_type ?? '',
    r.execution_id,
  ]);
  return `${head}\n\n${table(['STARTED (UTC)', 'STATUS', 'DURATION', 'ATTEMPTS', 'ERROR', 'EXECUTION'], rows, 160)}`;
}

function shortTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

function seconds(s: number): string {
  return `${s.toFixed(2)} s`;
}
