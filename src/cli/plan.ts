import { errorMessage } from '../errors';
import { historyDeps, medianDurations, readHistory } from '../history/history';
import { buildPlan, PLAN_RUN_LIMIT, type Durations, type Plan } from '../schedule/plan';
import { suggestSchedules, type Suggestion } from '../schedule/stagger';
import { renderTimeline } from '../schedule/timeline';
import type { Services } from '../services';
import { pauseLines } from './pause';
import { untilAborted } from '../util/abort';
import { timeoutSignal } from '../util/clock';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';
import { withServices } from './with-services';

export interface PlanOptions {
  from?: string;
  hours?: number;
  json?: boolean;
  check?: boolean;
}

/** How far back reports are read for expected durations. */
const HISTORY_DAYS = 14;

export async function planCommand(
  options: PlanOptions,
  global: GlobalOptions,
  loadServices: ServicesLoader,
  io: CliIO,
): Promise<number> {
  return withServices(loadServices, global, async (services) => {
    const fromMs = options.from ? Date.parse(options.from) : startOfHour(services.clock.now());
    const { durations, note } = await advisoryDurations(services);
    if (note) io.stderr(`${note}\n`);
    const plan = buildPlan(services.config, fromMs, options.hours ?? 24, durations);
    const suggestion =
      plan.overlaps.length > 0
        ? suggestSchedules(services.config, fromMs, durations)
        : { changes: [], unresolved: [] };
    const { pauses, text } = await pauseLines(services);
    if (options.json)
      io.stdout(JSON.stringify({ ...planJson(plan, suggestion), paused: pauses }, null, 2) + '\n');
    else
      io.stdout(
        renderPlan(plan, suggestion) +
          '\n' +
          (text ? `\n${text}\n(paused runs are skipped; the timeline shows the schedule)\n` : ''),
      );
    return options.check && plan.overlaps.length > 0 ? EXIT.failed : EXIT.ok;
  });
}

/**
 * How long the report history may take to read for advice (the planner's durations, `run`'s overlap
 * warning): a store that is down or slow must not hold up a run or a plan.
 * @default 3_000
 */
export const ADVISORY_BUDGET_MS = 3_000;

/**
 * Expected durations from the report history within ADVISORY_BUDGET_MS; past it, or if the store
 * fails, none (timeouts stand in) and a one-line note saying so.
 */
export async function advisoryDurations(
  services: Services,
  only?: ReadonlySet<string>,
): Promise<{ durations: Durations; note: string | null }> {
  const budget = timeoutSignal(
    services.clock,
    ADVISORY_BUDGET_MS,
    new Error(`not read within ${ADVISORY_BUDGET_MS / 1000} s`),
  );
  const reading = expectedDurations(services, only);
  try {
    return { durations: await untilAborted(reading, budget.signal), note: null };
  } catch (error) {
    reading.catch(() => undefined);
    return {
      durations: new Map(),
      note: `note: report history skipped (${errorMessage(error)}); timeouts stand in for run times`,
    };
  } finally {
    budget.clear();
  }
}

/** Enough for 14 days of minute ticks: the window, not the count, bounds the read. */
const HISTORY_EXECUTIONS = HISTORY_DAYS * 1440;

/**
 * Median duration of each collector's successful runs in the last 14 days, from the history index
 * (never by reading the reports themselves).
 */
export async function expectedDurations(services: Services, only?: ReadonlySet<string>): Promise<Durations> {
  const now = services.clock.now();
  const { entries } = await readHistory(historyDeps(services), {
    sinceMs: now - HISTORY_DAYS * 86_400_000,
    limit: HISTORY_EXECUTIONS,
  });
  return medianDurations(entries, only);
}

export function renderPlan(plan: Plan, suggestion: Suggestion): string {
  const fmt = (ms: number) => new Date(ms).toLocaleString('sv-SE', { timeZone: plan.timezone }).slice(0, 16);
  const lines = [
    `Schedule from ${fmt(plan.fromMs)} to ${fmt(plan.toMs)} (${plan.timezone})`,
    '',
    renderTimeline(plan),
    '',
  ];
  if (plan.cutShort) {
    lines.push(
      `Planned up to ${fmt(plan.toMs)} only: past ${PLAN_RUN_LIMIT} runs the planner stops at the end of the day.`,
      '',
    );
  }
  lines.push('Expected durations:');
  for (const c of plan.collectors) {
    lines.push(
      `  ${c.name.padEnd(20)} ${c.schedule.padEnd(16)} ${formatSeconds(c.expectedSeconds).padStart(8)}  (${c.durationSource === 'history' ? 'median of recent runs' : 'timeout, no history'})`,
    );
  }
  lines.push('');
  if (plan.overlaps.length === 0) {
    lines.push('No overlaps within credential groups.');
    return lines.join('\n');
  }
  lines.push(
    `${plan.overlaps.length}${plan.moreOverlaps ? '+' : ''} overlap${plan.overlaps.length === 1 ? '' : 's'} within credential groups:`,
  );
  for (const o of plan.overlaps.slice(0, 20)) {
    lines.push(
      `  [${o.group}] ${o.first.collector} at ${fmt(o.first.startMs)} and ${o.second.collector} at ${fmt(o.second.startMs)} overlap for ${formatSeconds(o.overlapSeconds)}`,
    );
  }
  if (plan.overlaps.length > 20) lines.push(`  … and ${plan.overlaps.length - 20} more`);
  lines.push('');
  if (suggestion.changes.length > 0) {
    lines.push('Suggested schedules (same frequency, no overlap over a week):');
    for (const c of suggestion.changes) lines.push(`  ${c.collector.padEnd(20)} "${c.from}"  ->  "${c.to}"`);
  }
  const notSearched = new Set(suggestion.notSearched ?? []);
  const unresolved = suggestion.unresolved.filter((name) => !notSearched.has(name));
  if (notSearched.size > 0) {
    lines.push(
      `Not searched (the search stopped at its CPU budget): ${[...notSearched].join(', ')}. Stagger the others first, then plan again.`,
    );
  }
  if (unresolved.length > 0) {
    lines.push(
      `No staggered schedule exists for ${unresolved.join(', ')}: its runs are too long or too frequent to fit between the others. Shorten them, lower their frequency, or move them to another account.`,
    );
  }
  return lines.join('\n');
}

function planJson(plan: Plan, suggestion: Suggestion) {
  // Thousands of collectors share a few hundred run times: each is written out once.
  const written = new Map<number, string>();
  const iso = (ms: number) => {
    let text = written.get(ms);
    if (text === undefined) written.set(ms, (text = new Date(ms).toISOString()));
    return text;
  };
  return {
    from: iso(plan.fromMs),
    to: iso(plan.toMs),
    timezone: plan.timezone,
    collectors: plan.collectors.map((c) => ({
      name: c.name,
      group: c.group,
      schedule: c.schedule,
      expected_seconds: c.expectedSeconds,
      duration_source: c.durationSource,
      runs: c.runs.map((r) => ({ start: iso(r.startMs), end: iso(r.endMs) })),
    })),
    overlaps: plan.overlaps.map((o) => ({
      group: o.group,
      first: { collector: o.first.collector, start: iso(o.first.startMs), end: iso(o.first.endMs) },
      second: { collector: o.second.collector, start: iso(o.second.startMs), end: iso(o.second.endMs) },
      overlap_seconds: o.overlapSeconds,
    })),
    suggestion,
    cut_short: plan.cutShort,
    more_overlaps: plan.moreOverlaps,
  };
}

function formatSeconds(s: number): string {
  return s >= 3600
    ? `${(s / 3600).toFixed(1)} h`
    : s >= 60
      ? `${(s / 60).toFixed(1)} min`
      : `${s.toFixed(1)} s`;
}

function startOfHour(ms: number): number {
  return Math.floor(ms / 3_600_000) * 3_600_000;
}
