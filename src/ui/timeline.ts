import type { CollectorReport, ExecutionReport } from '../report/report';

/**
 * The geometry of an execution's timeline, computed here so that the template only places what it is
 * given: a row per collector, a bar from its start to its end, a dot per attempt after the bar.
 */

/** What a bar's colour says. Timeouts are failures with `error_type: Timeout`, shown apart. */
export const BAR_KINDS = [
  'success',
  'failed',
  'timeout',
  'skipped',
  'scheduled',
  'running',
  'cancelled',
] as const;
export type BarKind = (typeof BAR_KINDS)[number];

export const BAR_COLOURS: Record<BarKind, string> = {
  success: '#2e7d32',
  failed: '#c62828',
  timeout: '#e65100',
  skipped: '#9e9e9e',
  scheduled: '#1565c0',
  running: '#6a1b9a',
  cancelled: '#5d4037',
};

export const LAYOUT = {
  width: 1040,
  labelWidth: 170,
  rightMargin: 230,
  rowHeight: 30,
  barHeight: 16,
  top: 28,
  minBarWidth: 3,
  ticks: 5,
} as const;

export interface TimelineRow {
  name: string;
  kind: BarKind;
  colour: string;
  y: number;
  /** Null when the collector never started (skipped before it ran, or still queued). */
  bar: { x: number; width: number } | null;
  /** One dot per attempt, after the bar: the last takes the outcome's colour, earlier ones are failed tries. */
  attempts: { cx: number; last: boolean }[];
  retrying: boolean;
  label: string;
  title: string;
}

export interface Timeline {
  width: number;
  height: number;
  rows: TimelineRow[];
  ticks: { x: number; label: string }[];
  axisY: number;
}

export function barKind(c: CollectorReport): BarKind {
  if (c.status === 'failed' && c.error_type === 'Timeout') return 'timeout';
  return c.status;
}

export function buildTimeline(report: ExecutionReport): Timeline {
  const entries = Object.entries(report.collectors);
  const t0 = Date.parse(report.start_time);
  const ends = entries.flatMap(([, c]) => (c.end_time ? [Date.parse(c.end_time)] : []));
  const t1 = Math.max(Date.parse(report.end_time), ...ends, t0 + 1000);
  const plot = LAYOUT.width - LAYOUT.labelWidth - LAYOUT.rightMargin;
  const x = (ms: number) => LAYOUT.labelWidth + ((Math.min(Math.max(ms, t0), t1) - t0) / (t1 - t0)) * plot;

  const rows = entries.map(([name, c], i): TimelineRow => {
    const kind = barKind(c);
    const y = LAYOUT.top + i * LAYOUT.rowHeight;
    const start = c.start_time ? Date.parse(c.start_time) : null;
    const end = c.end_time ? Date.parse(c.end_time) : start === null ? null : t1;
    const bar =
      start === null || end === null
        ? null
        : { x: round(x(start)), width: round(Math.max(LAYOUT.minBarWidth, x(end) - x(start))) };
    const after = bar ? bar.x + bar.width + 10 : LAYOUT.labelWidth + 6;
    const attempts = Array.from({ length: Math.max(0, c.attempts) }, (_, k) => ({
      cx: round(after + k * 12),
      last: k === c.attempts - 1,
    }));
    const retrying = c['retrying'] === true;
    const duration = c.duration_seconds === null ? '' : ` ${c.duration_seconds.toFixed(1)} s`;
    const label = `${kind}${duration}${c.attempts > 1 ? `, ${c.attempts} attempts` : ''}${retrying ? ', retrying' : ''}${bar ? '' : c.reason ? `: ${c.reason}` : ': not started'}`;
    return {
      name,
      kind,
      colour: BAR_COLOURS[kind],
      y,
      bar,
      attempts,
      retrying,
      label,
      title: `${name}: ${label}${c.reason ? ` (${c.reason})` : ''}${c.error ? ` — ${c.error_type ?? 'error'}: ${c.error}` : ''}`,
    };
  });

  const axisY = LAYOUT.top + rows.length * LAYOUT.rowHeight + 4;
  const ticks = Array.from({ length: LAYOUT.ticks + 1 }, (_, k) => {
    const ms = t0 + ((t1 - t0) * k) / LAYOUT.ticks;
    return { x: round(x(ms)), label: formatOffset((ms - t0) / 1000, (t1 - t0) / 1000) };
  });
  return { width: LAYOUT.width, height: axisY + 24, rows, ticks, axisY };
}

/** One unit for the whole axis: minutes once the execution spans three of them. */
function formatOffset(seconds: number, spanSeconds: number): string {
  if (spanSeconds >= 180) return `${(seconds / 60).toFixed(spanSeconds >= 1200 ? 0 : 1)} min`;
  return `${seconds.toFixed(spanSeconds >= 20 ? 0 : 1)} s`;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
