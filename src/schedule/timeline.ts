import type { Plan } from './plan';

/**
 * The plan as text: one row per collector, one column per time slot, fitting `width` columns.
 * `|` a run starts in the slot, `=` a run continues, `X` a run meets another of its group, `.` idle.
 */
export function renderTimeline(plan: Plan, width = 120): string {
  const label = (c: Plan['collectors'][number]) => (c.group ? `${c.name} [${c.group}]` : c.name);
  // The time axis gets the room first (names are cut to fit), so a day stays in 15-minute columns.
  const spanMinutes = (plan.toMs - plan.fromMs) / 60_000;
  const slotMinutes = pickSlot(spanMinutes, width - 2 - MIN_NAME_WIDTH);
  const slots = Math.ceil(spanMinutes / slotMinutes);
  const nameWidth = Math.max(
    MIN_NAME_WIDTH,
    Math.min(width - 2 - slots, Math.max(0, ...plan.collectors.map((c) => label(c).length))),
  );
  const slotOf = (ms: number) => Math.floor((ms - plan.fromMs) / (slotMinutes * 60_000));

  const overlapping = new Set<string>();
  for (const o of plan.overlaps) {
    for (
      let s = Math.max(0, slotOf(o.second.startMs));
      s <= Math.min(slots - 1, slotOf(Math.min(o.first.endMs, o.second.endMs) - 1));
      s++
    ) {
      overlapping.add(`${o.first.collector}:${s}`);
      overlapping.add(`${o.second.collector}:${s}`);
    }
  }

  const rows = plan.collectors.map((c) => {
    const cells = Array<string>(slots).fill('.');
    for (const run of c.runs) {
      const first = slotOf(run.startMs);
      const last = slotOf(run.endMs - 1);
      for (let s = Math.max(0, first); s <= Math.min(slots - 1, last); s++)
        if (cells[s] === '.') cells[s] = '=';
      if (first >= 0 && first < slots) cells[first] = '|';
    }
    for (let s = 0; s < slots; s++) if (overlapping.has(`${c.name}:${s}`)) cells[s] = 'X';
    return `${label(c).slice(0, nameWidth).padEnd(nameWidth)}  ${cells.join('')}`;
  });

  // Hour labels in the plan's time zone, at the slots where an hour starts and there is room.
  const header = Array<string>(slots).fill(' ');
  const hourLabel = new Intl.DateTimeFormat('en-GB', {
    timeZone: plan.timezone,
    hour: '2-digit',
    hourCycle: 'h23',
  });
  const minuteOf = new Intl.DateTimeFormat('en-GB', { timeZone: plan.timezone, minute: '2-digit' });
  const every = Math.max(1, Math.ceil(3 / Math.max(1, 60 / slotMinutes)));
  let hourCount = 0;
  for (let s = 0; s < slots; s++) {
    const t = new Date(plan.fromMs + s * slotMinutes * 60_000);
    if (
      Number(minuteOf.format(t)) < slotMinutes &&
      hourCount++ % every === 0 &&
      header.slice(s, s + 3).every((ch) => ch === ' ')
    ) {
      const text = hourLabel.format(t);
      header[s] = text[0]!;
      if (s + 1 < slots) header[s + 1] = text[1]!;
    }
  }
  const legend = `${slotMinutes}-minute columns, ${plan.timezone}; | run starts  = running  X overlaps a run of its group  . idle`;
  return [`${' '.repeat(nameWidth)}  ${header.join('').trimEnd()}`, ...rows, legend].join('\n');
}

const MIN_NAME_WIDTH = 16;

/** The smallest usual slot length that fits the span in `columns`. */
function pickSlot(spanMinutes: number, columns: number): number {
  for (const slot of [5, 10, 15, 20, 30, 60, 120, 180, 360, 720, 1440])
    if (spanMinutes / slot <= columns) return slot;
  return 1440;
}
