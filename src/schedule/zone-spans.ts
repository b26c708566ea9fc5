/**
 * A time window cut into spans where a time zone's UTC offset does not change, and short spans around
 * each change. Cron evaluation in a named zone costs about 0.5 ms per run (croner builds an
 * Intl.DateTimeFormat for every conversion); at a fixed offset it is ~0.03 ms. The planner enumerates
 * thousands of runs, so it takes the fixed-offset path wherever the zone's offset is constant, and the
 * zone's own evaluation only around offset changes, where local times repeat or do not exist.
 */
export type ZoneSpan =
  | { kind: 'fixed'; fromMs: number; toMs: number; offsetMinutes: number }
  | { kind: 'zone'; fromMs: number; toMs: number };

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Around an offset change, local times within this distance may be ambiguous or missing. */
const MARGIN_MS = 3 * HOUR_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at `ms`, in minutes (east positive). */
export function offsetMinutes(timezone: string, ms: number): number {
  let format = formatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, format);
  }
  const parts: Record<string, number> = {};
  for (const p of format.formatToParts(new Date(ms)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const local = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day!,
    parts.hour!,
    parts.minute!,
    parts.second!,
  );
  return Math.round((local - (ms - (((ms % 1000) + 1000) % 1000))) / 60_000);
}

/**
 * Spans already cut, by zone and window: a plan or a tick asks the same window of every collector (5,000
 * of them), and each cut costs Intl look-ups.
 */
const cut = new Map<string, readonly ZoneSpan[]>();
const CUT_LIMIT = 256;

/** [fromMs, toMs) as fixed-offset spans, with 'zone' spans covering each offset change ± 3 h. */
export function zoneSpans(timezone: string, fromMs: number, toMs: number): readonly ZoneSpan[] {
  const key = `${timezone}|${fromMs}|${toMs}`;
  let spans = cut.get(key);
  if (!spans) {
    spans = Object.freeze(cutSpans(timezone, fromMs, toMs).map((s) => Object.freeze(s)));
    if (cut.size >= CUT_LIMIT) cut.clear();
    cut.set(key, spans);
  }
  return spans;
}

function cutSpans(timezone: string, fromMs: number, toMs: number): ZoneSpan[] {
  const spans: ZoneSpan[] = [];
  const push = (span: ZoneSpan) => {
    if (span.toMs <= span.fromMs) return;
    const last = spans[spans.length - 1];
    if (last && last.kind === span.kind && last.toMs === span.fromMs) {
      if (last.kind === 'zone') {
        last.toMs = span.toMs;
        return;
      }
      if (span.kind === 'fixed' && last.offsetMinutes === span.offsetMinutes) {
        last.toMs = span.toMs;
        return;
      }
    }
    spans.push(span);
  };
  for (let a = fromMs; a < toMs; a += DAY_MS) {
    const b = Math.min(a + DAY_MS, toMs);
    const before = offsetMinutes(timezone, a - MARGIN_MS);
    const after = offsetMinutes(timezone, b + MARGIN_MS);
    if (before === after) {
      push({ kind: 'fixed', fromMs: a, toMs: b, offsetMinutes: before });
      continue;
    }
    // One change in (a - margin, b + margin): find it, and evaluate in the zone only around it.
    let lo = a - MARGIN_MS;
    let hi = b + MARGIN_MS;
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (offsetMinutes(timezone, mid) === before) lo = mid;
      else hi = mid;
    }
    const zoneFrom = Math.max(a, hi - MARGIN_MS);
    const zoneTo = Math.min(b, hi + MARGIN_MS);
    push({ kind: 'fixed', fromMs: a, toMs: zoneFrom, offsetMinutes: before });
    push({ kind: 'zone', fromMs: zoneFrom, toMs: zoneTo });
    push({ kind: 'fixed', fromMs: zoneTo, toMs: b, offsetMinutes: after });
  }
  return spans;
}
