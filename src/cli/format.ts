import type { ProgressEvent } from '../dispatch/types';
import type { CollectorReport, ExecutionReport } from '../report/report';
import { scrub } from '../util/secrets';
import { redactUrl } from '../util/url';

/** A fixed-width text table; the last column is cut to fit `width`. */
export function table(headers: string[], rows: string[][], width = 120): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fixed = widths.slice(0, -1).reduce((a, b) => a + b + 2, 0);
  widths[widths.length - 1] = Math.max(10, Math.min(widths[widths.length - 1]!, width - fixed));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const w = widths[i]!;
        const text = c.length > w ? `${c.slice(0, w - 1)}…` : c;
        return i === cells.length - 1 ? text : text.padEnd(w);
      })
      .join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

export function reportTable(report: ExecutionReport, width?: number): string {
  const rows = Object.entries(report.collectors).map(([name, c]) => [
    name,
    c.status,
    c.http_status === null ? '-' : String(c.http_status),
    String(c.attempts),
    c.duration_seconds === null ? '-' : `${c.duration_seconds.toFixed(2)} s`,
    detail(c),
  ]);
  return table(['COLLECTOR', 'STATUS', 'HTTP', 'ATTEMPTS', 'DURATION', 'DETAIL'], rows, width);
}

/**
 * A collector's error over HTTP starts with the call ("POST http://127.0.0.1:41233/collectors/dvf
 * answered 503: "). The status has its own column and the URL is often the embedded server's throwaway
 * loopback port, so the table shows what follows: the cause, which a cut line would lose.
 */
const CALL_PREFIX = /^POST \S+ answered \d{3}: /;

function detail(c: CollectorReport): string {
  if (c.error) {
    const cause = c.error.replace(CALL_PREFIX, '');
    return c.error_type ? `${c.error_type}: ${cause}` : cause;
  }
  if (c.reason) return c.reason;
  const result = c.result as {
    records?: unknown;
    units?: { failed?: number; total?: number; failures?: { unit: string; error: string }[] };
  } | null;
  const units = result?.units;
  if (c['partial'] === true && units) {
    const first = units.failures?.[0];
    return `partial: ${units.failed} of ${units.total} units failed${first ? ` (${first.unit}: ${first.error})` : ''}`;
  }
  if (result && typeof result.records === 'number') return `${result.records} records`;
  return '';
}

export function summaryLine(report: ExecutionReport): string {
  const s = report.summary;
  const parts = [
    `${s.succeeded} succeeded${s.partial ? ` (${s.partial} partial)` : ''}`,
    `${s.failed} failed`,
    `${s.skipped} skipped`,
  ];
  if (s.scheduled) parts.push(`${s.scheduled} scheduled`);
  if (s.running) parts.push(`${s.running} running`);
  if (s.cancelled) parts.push(`${s.cancelled} cancelled`);
  return `execution ${report.execution_id} (${report.trigger.kind}, ${report.mode}): ${s.total} collector${s.total === 1 ? '' : 's'}, ${parts.join(', ')} in ${report.duration_seconds.toFixed(2)} s`;
}

/** One line of live progress; URLs lose credentials and query values, echoed errors their secrets. */
export function progressLine(event: ProgressEvent): string {
  switch (event.type) {
    case 'start':
      return `→ ${event.name}: attempt ${event.attempt} → ${redactUrl(event.url)}`;
    case 'retry':
      return `↻ ${event.name}: retrying in ${(event.delayMs / 1000).toFixed(1)} s (attempt ${event.attempt}) after ${scrub(event.reason)}`;
    case 'finish': {
      const o = event.outcome;
      const took =
        o.startMs !== null && o.endMs !== null ? ` in ${((o.endMs - o.startMs) / 1000).toFixed(2)} s` : '';
      if (o.status === 'failed')
        return `✗ ${o.name}: failed${took} (${o.errorType ?? 'error'}): ${scrub(o.error ?? '')}`;
      if (o.status === 'skipped') return `- ${o.name}: skipped (${scrub(o.reason ?? '')})`;
      if (o.status === 'cancelled') return `✗ ${o.name}: cancelled${took}`;
      return `✓ ${o.name}: ${o.status}${took}`;
    }
  }
}
