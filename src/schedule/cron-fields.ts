/**
 * Shifting a cron expression's minute and hour fields, for the planner's stagger suggestions. Every
 * value of a field moves by the same amount (modulo the field's range), so the schedule keeps its
 * frequency: `*\/30 * * * *` shifted by 10 minutes is `10,40 * * * *`.
 */

const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** The values of a numeric cron field, or null if it uses syntax we do not shift (names, L, W, #). */
export function expandField(field: string, min: number, max: number): number[] | null {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const m = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
    // croner refuses `5/10` (a step from a value: it asks for `*/10` or `5-59/10`) and `*-5`: so does
    // the numeric path, leaving them to croner's error.
    if (!m || (m[1] === '*' ? m[2] !== undefined : m[2] === undefined && m[3] !== undefined)) return null;
    const step = m[3] ? Number(m[3]) : 1;
    const start = m[1] === '*' ? min : Number(m[1]);
    const end = m[1] === '*' ? max : m[2] !== undefined ? Number(m[2]) : m[3] ? max : start;
    if (step < 1 || start < min || end > max || start > end) return null;
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

/** The shortest usual way to write a set of values. */
export function renderField(values: number[], min: number, max: number): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  if (sorted.length === max - min + 1) return '*';
  if (sorted.length > 4) {
    const step = sorted[1]! - sorted[0]!;
    const progression = sorted.every((v, i) => i === 0 || v - sorted[i - 1]! === step);
    if (progression && sorted[sorted.length - 1]! + step > max) {
      return sorted[0] === min ? `*/${step}` : `${sorted[0]}-${max}/${step}`;
    }
  }
  return sorted.join(',');
}

/** The five fields of an expression, nicknames (@daily, ...) spelled out; null if it has not five. */
export function cronFields(expression: string): string[] | null {
  const expr = NICKNAMES[expression.trim().toLowerCase()] ?? expression.trim();
  const fields = expr.split(/\s+/);
  return fields.length === 5 ? fields : null;
}

/** `expression` with minutes and hours moved by the given amounts, or null if it cannot be shifted. */
export function shiftCron(expression: string, minutes: number, hours: number): string | null {
  const expanded = shiftable(expression);
  if (!expanded) return null;
  const { fields, minuteValues, hourValues } = expanded;
  const m = renderField(
    minuteValues.map((v) => (((v + minutes) % 60) + 60) % 60),
    0,
    59,
  );
  const h = renderField(
    hourValues.map((v) => (((v + hours) % 24) + 24) % 24),
    0,
    23,
  );
  return [m, h, ...fields.slice(2)].join(' ');
}

interface Shiftable {
  fields: string[];
  minuteValues: number[];
  hourValues: number[];
}

/** Expressions read for shifting: the planner's search shifts one expression many times over. */
const shiftables = new Map<string, Shiftable | null>();
const SHIFTABLES_LIMIT = 1_000;

function shiftable(expression: string): Shiftable | null {
  if (shiftables.has(expression)) return shiftables.get(expression)!;
  const fields = cronFields(expression);
  const minuteValues = fields && expandField(fields[0]!, 0, 59);
  const hourValues = fields && expandField(fields[1]!, 0, 23);
  const value = fields && minuteValues && hourValues ? { fields, minuteValues, hourValues } : null;
  if (shiftables.size >= SHIFTABLES_LIMIT) shiftables.clear();
  shiftables.set(expression, value);
  return value;
}
