import { createHash } from 'node:crypto';
import { Eta } from 'eta';
import type { HistoryEntry } from '../history/entry';
import type { CollectorReport, ExecutionReport } from '../report/report';
import { BAR_COLOURS, BAR_KINDS, barKind, buildTimeline, LAYOUT } from './timeline';
import { EXECUTION_TEMPLATE, LAYOUT_TEMPLATE, LIST_TEMPLATE, STYLE } from './templates';

/** Escaping on by default: every `<%= %>` value is HTML-escaped (quotes included). */
const eta = new Eta({ autoEscape: true, autoTrim: false, cache: true });
eta.loadTemplate('@layout', LAYOUT_TEMPLATE);
eta.loadTemplate('@list', LIST_TEMPLATE);
eta.loadTemplate('@execution', EXECUTION_TEMPLATE);

/**
 * The page's Content-Security-Policy: nothing may load or run, and the one inline stylesheet is allowed
 * by its hash, so an injected `<script>` or `style` attribute would be inert even if escaping failed.
 */
export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface PageOptions {
  /** IANA zone the times are shown in. */
  timezone: string;
  /** Links between pages (off for a page written to a file). */
  links: boolean;
  /** Prefix of an execution's link from the list (relative, so the page works under any path prefix). */
  base?: string;
  subtitle?: string;
}

export function renderListPage(entries: readonly HistoryEntry[], options: PageOptions): string {
  const rows = entries.map((e) => ({
    id: e.execution_id,
    started: localTime(e.start_time, options.timezone),
    trigger: e.trigger,
    mode: e.mode,
    ok: e.summary.succeeded,
    failed: e.summary.failed,
    skipped: e.summary.skipped,
    pending: e.summary.scheduled + e.summary.running,
    duration: `${e.duration_seconds.toFixed(1)} s`,
  }));
  const body = eta.render('@list', {
    rows,
    links: options.links,
    base: options.base ?? 'ui/',
    subtitle: options.subtitle ?? `Newest first; times in ${options.timezone}.`,
  });
  return layout('Executions', body);
}

export function renderExecutionPage(report: ExecutionReport, options: PageOptions): string {
  const timeline = buildTimeline(report);
  const entries = Object.entries(report.collectors);
  const s = report.summary;
  const body = eta.render('@execution', {
    id: report.execution_id,
    links: options.links,
    trigger: `${report.trigger.source}/${report.trigger.kind}${report.trigger.job_name ? ` (${report.trigger.job_name})` : ''}${report.trigger.forced ? ', forced' : ''}, for ${localTime(report.trigger.scheduled_time, options.timezone)}`,
    mode: report.mode,
    started: `${localTime(report.start_time, options.timezone)} (${options.timezone})`,
    duration: `${report.duration_seconds.toFixed(1)} s`,
    summary: `${s.total} collectors: ${s.succeeded} succeeded, ${s.failed} failed, ${s.skipped} skipped, ${s.scheduled} scheduled, ${s.running} running`,
    warnings: report.warnings ?? [],
    legend: BAR_KINDS.map((kind) => ({ kind, colour: BAR_COLOURS[kind] })),
    timeline,
    labelX: LAYOUT.labelWidth - 10,
    plotX: LAYOUT.labelWidth,
    barHeight: LAYOUT.barHeight,
    failedColour: BAR_COLOURS.failed,
    collectors: entries.map(([name, c]) => ({
      name,
      kind: barKind(c),
      http: c.http_status ?? '-',
      attempts: c.attempts,
      started: c.start_time ? localTime(c.start_time, options.timezone) : '-',
      duration: c.duration_seconds === null ? '-' : `${c.duration_seconds.toFixed(2)} s`,
      detail: detail(c),
    })),
    errors: entries
      .filter(([, c]) => c.error)
      .map(([name, c]) => ({
        name,
        type: c.error_type ?? 'error',
        http: c.http_status ?? '-',
        attempts: c.attempts,
        message: c.error,
      })),
  });
  return layout(`Execution ${report.execution_id}`, body);
}

function layout(title: string, body: string): string {
  return eta.render('@layout', { title, style: STYLE, body });
}

function detail(c: CollectorReport): string {
  if (c.reason) return c.reason;
  const result = c.result as { records?: unknown } | null;
  if (result && typeof result.records === 'number') return `${result.records} records`;
  if (c['retrying'] === true) return 'retrying';
  return '';
}

/** `2026-11-22 15:00:03` in `timezone`. */
export function localTime(iso: string, timezone: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms).toLocaleString('sv-SE', { timeZone: timezone });
}
