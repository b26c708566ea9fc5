import { createHash } from 'node:crypto';
import type { LogEntry } from './log-entry';

/**
 * Cloud Logging refuses a LogEntry over 256 KB (its quotas page: "Size of a LogEntry: 256 KB"), and
 * the agent adds its own fields to what we print. A line past this budget is split.
 */
export const MAX_LOG_LINE_BYTES = 200_000;

/** Fields copied onto every part, so a part is found by the same filters as its head. */
const CARRIED = [
  'executionId',
  'collector',
  'logging.googleapis.com/trace',
  'logging.googleapis.com/spanId',
] as const;

/**
 * `entry` as one or more entries that each fit the budget. The largest fields move out of the head, one
 * at a time, until it fits: each becomes `{split: true, parts, bytes, partsId}` in the head, and its JSON
 * text follows in entries `{partsId, field, part, parts, data}`. Concatenating `data` in `part` order
 * gives the field's JSON back: nothing is lost (a report that could not be stored is logged this way).
 */
export function fitEntry(entry: LogEntry, max = MAX_LOG_LINE_BYTES): LogEntry[] {
  if (bytes(entry) <= max) return [entry];
  const head: LogEntry = { ...entry };
  const parts: LogEntry[] = [];
  const carried = Object.fromEntries(CARRIED.filter((k) => k in entry).map((k) => [k, entry[k]]));
  while (bytes(head) > max) {
    const field = largestField(head);
    if (field === null) break;
    const text = JSON.stringify(head[field]) ?? 'null';
    const partsId = createHash('sha256').update(text).digest('hex').slice(0, 16);
    const chunks = splitForJson(text, max - 2_000 - bytes(carried));
    head[field] = { split: true, parts: chunks.length, bytes: Buffer.byteLength(text), partsId };
    chunks.forEach((data, i) =>
      parts.push({
        ...carried,
        severity: entry.severity,
        message: `${entry.message} (${field}, part ${i + 1} of ${chunks.length})`,
        partsId,
        field,
        part: i + 1,
        parts: chunks.length,
        data,
      }),
    );
  }
  return [head, ...parts];
}

function bytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

function largestField(entry: LogEntry): string | null {
  let best: string | null = null;
  let size = 0;
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'severity' || key === 'message') continue;
    const n = bytes(value);
    if (n > size && n > 64) [best, size] = [key, n];
  }
  return best;
}

/**
 * Pieces whose JSON string form is at most `max` bytes. Escaping at most doubles a piece (`"` becomes
 * `\"`; the text is JSON, so it holds no raw control characters), so a piece that does not fit is cut
 * into halves, which do.
 */
function splitForJson(text: string, max: number): string[] {
  const out: string[] = [];
  for (const piece of splitUtf8(text, max - 2)) {
    if (bytes(piece) <= max) out.push(piece);
    else out.push(...splitUtf8(piece, Math.max(8, Math.floor((max - 2) / 2))));
  }
  return out;
}

/** Pieces of at most `max` UTF-8 bytes (at least one character each), never cutting a character. */
export function splitUtf8(text: string, max: number): string[] {
  const buf = Buffer.from(text, 'utf8');
  const out: string[] = [];
  for (let start = 0; start < buf.length;) {
    let end = Math.min(buf.length, start + max);
    while (end < buf.length && end > start && (buf[end]! & 0xc0) === 0x80) end--;
    if (end === start) {
      // `max` is smaller than this one character: take the whole character.
      end = start + 1;
      while (end < buf.length && (buf[end]! & 0xc0) === 0x80) end++;
    }
    out.push(buf.subarray(start, end).toString('utf8'));
    start = end;
  }
  return out;
}
