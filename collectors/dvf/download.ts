import type { ManifestObject } from '../../src/runtime/contract';
import type { RawOutput } from '../../src/runtime/output';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { redactUrl } from '../../src/util/url';
import { streamToStore, type FileValidators } from '../stream-download';
import { GzipCsvInspector, type CsvStats } from './csv-rows';

export type { FileValidators } from '../stream-download';

export type DownloadOutcome =
  | { kind: 'written'; object: ManifestObject; validators: FileValidators; csv: CsvStats }
  | { kind: 'unchanged'; how: 'not-modified' | 'validators' }
  | { kind: 'missing'; status: number };

export interface DownloadRequest {
  url: string;
  key: string;
  /** When given, the download is conditional on the file having changed since. */
  previous?: FileValidators | null;
  /** Count the rows (inflating the whole file), or only check the header. */
  countRows?: boolean;
}

/** Streams one gzipped geo-dvf CSV into the raw store, checking its header and counting its rows on the way. */
export async function downloadFile(
  deps: UpstreamDeps,
  output: RawOutput,
  request: DownloadRequest,
): Promise<DownloadOutcome> {
  const outcome = await streamToStore(deps, output, {
    ...request,
    contentType: 'application/gzip',
    accept: 'application/gzip, application/octet-stream',
    inspector: () => new GzipCsvInspector(redactUrl(request.url), request.countRows ?? true),
    records: (csv: CsvStats) => csv.rows,
  });
  if (outcome.kind !== 'written') return outcome;
  return { kind: 'written', object: outcome.object, validators: outcome.validators, csv: outcome.inspected };
}
