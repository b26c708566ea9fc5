import { putJson, readJson, type ObjectStore } from '../../src/store/types';

/**
 * What the Sirene collector remembers between runs, in its state store:
 * - `watermark.json`: how far the data already stored reaches; moved only after that data is written;
 * - `checkpoint.json`: the sweep in progress (its query, its next cursor, the pages written), so a run
 *   cut off by its timeout is resumed by the retry of the same scheduledTime instead of restarted.
 */

export interface Watermark {
  /** The largest `dateDernierTraitementEtablissement` stored so far (API Sirene's own format). */
  maxTraitement: string | null;
  /** `dateDerniereMiseADisposition` of établissements when the last sweep completed. */
  publication: string | null;
  /** The run that last moved it. */
  scheduledTime: string;
}

export interface Checkpoint {
  scheduledTime: string;
  /** The sweep's lower bound (YYYY-MM-DD); a resumed sweep must keep its query to keep its cursor. */
  since: string;
  /** The next cursor to ask for (`*` at the start). */
  cursor: string;
  /** Number of the next page object. */
  nextPage: number;
  records: number;
  pages: string[];
  /** The largest date stored, this sweep or before. */
  maxSeen: string | null;
  /** The last date of the last page written, to check the order of the next one. */
  lastDate: string | null;
  /** Whether every page so far came back in ascending `dateDernierTraitementEtablissement` order. */
  ascending: boolean;
  /** `dateDerniereMiseADisposition` seen when the sweep started. */
  publication: string | null;
  complete: boolean;
}

const WATERMARK = 'watermark.json';
const CHECKPOINT = 'checkpoint.json';

export async function readWatermark(state: ObjectStore): Promise<Watermark | null> {
  return (await readJson<Watermark>(state, WATERMARK))?.value ?? null;
}

export async function writeWatermark(state: ObjectStore, watermark: Watermark): Promise<void> {
  await putJson(state, WATERMARK, watermark);
}

export async function readCheckpoint(state: ObjectStore): Promise<Checkpoint | null> {
  return (await readJson<Checkpoint>(state, CHECKPOINT))?.value ?? null;
}

export async function writeCheckpoint(state: ObjectStore, checkpoint: Checkpoint): Promise<void> {
  await putJson(state, CHECKPOINT, checkpoint);
}

/** The sweep's lower bound: the watermark's day minus the overlap, else `initial`, else the day before. */
export function sinceFor(
  watermark: Watermark | null,
  options: { overlap_days: number; initial_since?: string | undefined },
  scheduledTime: Date,
): string {
  const day = (iso: string, minusDays: number) => {
    const d = new Date(`${iso.slice(0, 10)}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() - minusDays);
    return d.toISOString().slice(0, 10);
  };
  if (watermark?.maxTraitement) return day(watermark.maxTraitement, options.overlap_days);
  if (options.initial_since) return options.initial_since;
  return day(scheduledTime.toISOString(), 1);
}
