import { putJson, readJson, type ObjectStore } from '../../src/store/types';
import type { FileValidators } from './download';

/**
 * The watermark of one (year, département) file: which release and which bytes were last stored, so a
 * later run skips a file it already has. Written only after the object itself is stored.
 */
export interface FileMark {
  release: string;
  key: string;
  /** Size and date the release's listing showed for the file when it was stored (null: no listing). */
  index?: { size: string | null; date: string | null } | null;
  validators: FileValidators;
  bytes: number;
  md5: string;
  rows: number | null;
  /** The run that stored it. */
  scheduledTime: string;
}

/** `departement` is a département code, or `full` for the national file. */
function markKey(year: number, departement: string): string {
  return `files/${year}/${departement}.json`;
}

export async function readMark(
  state: ObjectStore,
  year: number,
  departement: string,
): Promise<FileMark | null> {
  return (await readJson<FileMark>(state, markKey(year, departement)))?.value ?? null;
}

export async function writeMark(
  state: ObjectStore,
  year: number,
  departement: string,
  mark: FileMark,
): Promise<void> {
  await putJson(state, markKey(year, departement), mark);
}
