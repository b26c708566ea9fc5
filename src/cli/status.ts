import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { withRunRecords } from '../report/merge';
import { ReportStore } from '../report/report-store';
import { reportTable, summaryLine } from './format';
import { pauseLines } from './pause';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';
import { withServices } from './with-services';

export interface StatusOptions {
  id?: string;
  json?: boolean;
  /** Also write the report page (as `GET /ui/ID` serves it) to this file. */
  html?: string;
}

export async function statusCommand(
  options: StatusOptions,
  global: GlobalOptions,
  loadServices: ServicesLoader,
  io: CliIO,
): Promise<number> {
  return withServices(loadServices, global, async (services) => {
    const reports = new ReportStore(services.stores.reports, services.logger);
    const stored = options.id ? await reports.get(options.id) : await reports.latest();
    const report = stored && (await withRunRecords(stored, services.stores.state, services.clock.now()));
    if (!report) {
      io.stderr(
        options.id
          ? `no report for execution ${options.id} in ${reports.location}\n`
          : `no execution report yet in ${reports.location}\n`,
      );
      return EXIT.failed;
    }
    if (options.html) {
      const { renderExecutionPage } = require('../ui/render') as typeof import('../ui/render');
      const file = path.resolve(io.cwd, options.html);
      await writeFile(
        file,
        renderExecutionPage(report, { timezone: services.config.timezone, links: false }),
      );
      io.stderr(`report page written to ${file}\n`);
    }
    // Pauses are current state, not the report's: shown beside it (JSON: `paused`, only when any).
    const { pauses, text } = await pauseLines(services);
    if (options.json)
      io.stdout(JSON.stringify(pauses.length > 0 ? { ...report, paused: pauses } : report, null, 2) + '\n');
    else
      io.stdout(
        `${reportTable(report)}\n\n${summaryLine(report)}\nstarted ${report.start_time}, ended ${report.end_time}\n${text ? `\n${text}\n` : ''}`,
      );
    return EXIT.ok;
  });
}
