import { collectorOfKey } from '../report/report';
import pLimit from 'p-limit';
import { isPreconditionFailed, type ObjectStore } from '../store/types';
import type { Logger } from '../util/log';
import { newestFirst, parseLines, toLines, type HistoryEntry } from './entry';

/**
 * The history index, kept beside the reports so that history never lists or reads the reports:
 *
 * - `index/days/YYYY-MM-DD.jsonl`: one line per execution started that day (UTC), appended when its
 *   report is saved (read, append, write back only if the object's generation is still the one read);
 * - `index/months/YYYY-MM.jsonl`: a month's days rolled into one object, newest first, written once the
 *   month is over (plus a day's grace for executions still saving their report) by the first reader
 *   that needs it (never by a save: a slow listing must not hold up an execution's report).
 *
 * A year of 5-minute ticks is 12 month objects and the current month's days, listed in one or two
 * pages; a query reads objects newest first and stops once it has `limit` entries.
 */
export const INDEX_PREFIX = 'index/';
const DAYS = 'index/days/';
const MONTHS = 'index/months/';

/** Concurrent writers of one day object retry this often before the line is given up (and logged). */
const APPEND_ATTEMPTS = 16;
/** A month is rolled only this long after it ended: a report may be saved up to a deadline late. */
const ROLL_GRACE_MS = 86_400_000;
/** Day objects read at once when a query walks an unrolled month. */
const READ_CONCURRENCY = 4;

export interface HistoryQuery {
  collector?: string;
  /** Only executions started at or after this time. */
  sinceMs?: number;
  limit: number;
}

export interface HistoryPage {
  /** Newest first. */
  entries: HistoryEntry[];
  /** Index objects read to answer (the listing not counted): the cost of the query. */
  objectsRead: number;
}

export class HistoryIndex {
  constructor(
    private readonly store: ObjectStore,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Adds an execution's line to its day object. Idempotent: a line already there is not added twice.
   * Never throws: the report is already stored, and a missing line is only a gap in the history
   * (`scheduler history --rebuild` fills it).
   */
  async append(entry: HistoryEntry): Promise<boolean> {
    const key = dayKey(entry.start_time);
    try {
      for (let attempt = 1; attempt <= APPEND_ATTEMPTS; attempt++) {
        const current = await this.store.get(key);
        const text = current?.data.toString('utf8') ?? '';
        if (text.includes(`"execution_id":${JSON.stringify(entry.execution_id)}`)) return true;
        try {
          await this.store.put(key, text + toLines([entry]), {
            contentType: 'application/x-ndjson',
            ifGenerationMatch: current?.generation ?? 0,
          });
          return true;
        } catch (error) {
          if (!isPreconditionFailed(error)) throw error;
        }
      }
      throw new Error(`${APPEND_ATTEMPTS} concurrent writers won in a row`);
    } catch (error) {
      this.logger.warn(`history index not updated for ${entry.execution_id}: ${(error as Error).message}`, {
        executionId: entry.execution_id,
        index: `${this.store.location}/${key}`,
      });
      return false;
    }
  }

  /** Executions newest first, filtered by collector and start time, at most `limit`. */
  async query(query: HistoryQuery): Promise<HistoryPage> {
    const layout = await this.layout();
    const sinceMonth = query.sinceMs === undefined ? '' : isoMonth(query.sinceMs);
    const months = [...new Set([...layout.rolled, ...layout.days.keys()])]
      .filter((m) => m >= sinceMonth)
      .sort()
      .reverse();
    const out: HistoryEntry[] = [];
    let objectsRead = 0;
    const keep = (e: HistoryEntry) =>
      (query.collector === undefined ||
        Object.keys(e.collectors).some((key) => collectorOfKey(key) === query.collector)) &&
      (query.sinceMs === undefined || Date.parse(e.start_time) >= query.sinceMs);

    for (const month of months) {
      if (out.length >= query.limit) break;
      if (!layout.rolled.has(month) && this.isComplete(month)) {
        // Roll it now, so the next query reads one object instead of a month of days.
        if (await this.roll(month, layout.days.get(month) ?? [])) layout.rolled.add(month);
        objectsRead += layout.days.get(month)?.length ?? 0;
      }
      if (layout.rolled.has(month)) {
        const entries = await this.readObject(`${MONTHS}${month}.jsonl`);
        objectsRead++;
        out.push(...entries.filter(keep).slice(0, query.limit - out.length));
        continue;
      }
      // The current month: its days, newest first, a few at a time, until the page is full.
      const days = [...(layout.days.get(month) ?? [])].sort().reverse();
      const limit = pLimit(READ_CONCURRENCY);
      for (let i = 0; i < days.length && out.length < query.limit; i += READ_CONCURRENCY) {
        const batch = days.slice(i, i + READ_CONCURRENCY);
        const read = await Promise.all(batch.map((k) => limit(() => this.readObject(k))));
        objectsRead += batch.length;
        for (const entries of read) {
          out.push(
            ...entries
              .sort(newestFirst)
              .filter(keep)
              .slice(0, query.limit - out.length),
          );
        }
      }
    }
    return { entries: out, objectsRead };
  }

  /** Rewrites every day and month object from `entries` (the reports themselves): `history --rebuild`. */
  async rebuild(entries: readonly HistoryEntry[]): Promise<{ days: number; months: number }> {
    const byDay = new Map<string, HistoryEntry[]>();
    for (const e of entries) byDay.set(dayKey(e.start_time), [...(byDay.get(dayKey(e.start_time)) ?? []), e]);
    const limit = pLimit(8);
    await Promise.all(
      [...byDay].map(([key, list]) =>
        limit(() =>
          this.store.put(key, toLines(dedupe(list).sort(newestFirst).reverse()), {
            contentType: 'application/x-ndjson',
          }),
        ),
      ),
    );
    const layout = await this.layout();
    let months = 0;
    for (const [month, days] of layout.days) {
      if (!this.isComplete(month)) continue;
      await this.store.delete(`${MONTHS}${month}.jsonl`).catch(() => false);
      if (await this.roll(month, days)) months++;
    }
    return { days: byDay.size, months };
  }

  /** Writes a month's roll if nobody has; true once it exists. */
  private async roll(month: string, dayKeys: readonly string[]): Promise<boolean> {
    const limit = pLimit(8);
    const lists = await Promise.all(dayKeys.map((k) => limit(() => this.readObject(k))));
    const entries = dedupe(lists.flat()).sort(newestFirst);
    try {
      await this.store.put(`${MONTHS}${month}.jsonl`, toLines(entries), {
        contentType: 'application/x-ndjson',
        ifGenerationMatch: 0,
      });
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return true;
      // A reader without write access still answers, from the days.
      this.logger.warn(`history month ${month} not rolled: ${(error as Error).message}`);
      return false;
    }
  }

  private async layout(): Promise<{ rolled: Set<string>; days: Map<string, string[]> }> {
    const rolled = new Set<string>();
    const days = new Map<string, string[]>();
    for await (const info of this.store.list(INDEX_PREFIX)) {
      const month = /^index\/months\/(\d{4}-\d{2})\.jsonl$/.exec(info.key);
      if (month) rolled.add(month[1]!);
      const day = /^index\/days\/(\d{4}-\d{2})-\d{2}\.jsonl$/.exec(info.key);
      if (day) days.set(day[1]!, [...(days.get(day[1]!) ?? []), info.key]);
    }
    return { rolled, days };
  }

  private async readObject(key: string): Promise<HistoryEntry[]> {
    const object = await this.store.get(key);
    if (!object) return [];
    const { entries, bad } = parseLines(object.data.toString('utf8'));
    if (bad > 0) this.logger.warn(`${this.store.location}/${key}: ${bad} unreadable history line(s) skipped`);
    return entries;
  }

  private isComplete(month: string): boolean {
    const [year, m] = month.split('-').map(Number) as [number, number];
    return this.now() >= Date.UTC(year, m, 1) + ROLL_GRACE_MS;
  }
}

export function dayKey(startTime: string): string {
  return `${DAYS}${startTime.slice(0, 10)}.jsonl`;
}

function isoMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

function dedupe(entries: readonly HistoryEntry[]): HistoryEntry[] {
  const seen = new Map<string, HistoryEntry>();
  for (const e of entries) seen.set(e.execution_id, e);
  return [...seen.values()];
}
