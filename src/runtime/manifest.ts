/*
 * What a run wrote (its manifest) and how its units of work ended: shared by the plug-in contract
 * (contract.ts) and the raw output that builds them (output.ts).
 */

/** One unit of work that failed while the others went on. */
export interface UnitFailure {
  /** What it was, e.g. `2024/75`, `commune 35238`, `ad_report 2026-11-21`. */
  unit: string;
  error: string;
  errorType: string;
  /** Whether a later run may succeed where this one failed. */
  retryable: boolean;
}

export interface UnitsSummary {
  total: number;
  succeeded: number;
  /** Nothing to do (unchanged, not published, excluded). */
  skipped: number;
  failed: number;
  /** The failed units with their reasons (the first ones, when there are very many). */
  failures: UnitFailure[];
}

export interface ManifestObject {
  key: string;
  bytes: number;
  md5: string;
  records: number | null;
  contentType: string;
}

export interface Manifest {
  /** Where the manifest itself is stored. */
  location: string;
  collector: string;
  executionId: string;
  scheduledTime: string;
  objects: ManifestObject[];
  totals: { objects: number; bytes: number; records: number };
  /** The run's units of work, failed ones with their reasons (absent for collectors without units). */
  units?: UnitsSummary;
}
