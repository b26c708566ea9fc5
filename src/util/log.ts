import { fitEntry } from './log-size';
import { SEVERITIES, type LogEntry, type Severity } from './log-entry';
import { redact, scrub } from './secrets';

export { SEVERITIES, type LogEntry, type Severity } from './log-entry';

export type LogSink = (entry: LogEntry) => void;

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/**
 * One JSON object per line on stdout/stderr: Cloud Logging reads `severity` and `message` from it and
 * keeps the other fields as jsonPayload. Secrets are scrubbed here, at the one place every log passes.
 */
export const jsonLineSink: LogSink = (entry) => {
  const line = JSON.stringify(entry) + '\n';
  if (entry.severity === 'ERROR' || entry.severity === 'WARNING') process.stderr.write(line);
  else process.stdout.write(line);
};

export function createLogger(
  sink: LogSink = jsonLineSink,
  base: Record<string, unknown> = {},
  minSeverity: Severity = 'INFO',
): Logger {
  const min = SEVERITIES.indexOf(minSeverity);
  const emit = (severity: Severity, message: string, fields?: Record<string, unknown>) => {
    if (SEVERITIES.indexOf(severity) < min) return;
    try {
      const entry: LogEntry = {
        ...(redact({ ...base, ...fields }) as Record<string, unknown>),
        severity,
        message: scrub(message),
      };
      // Over Cloud Logging's entry size, an entry goes out in parts rather than being dropped.
      for (const part of fitEntry(entry)) sink(part);
    } catch {
      // A failing log sink must never fail the work being logged.
    }
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    warn: (m, f) => emit('WARNING', m, f),
    error: (m, f) => emit('ERROR', m, f),
    child: (fields) => createLogger(sink, { ...base, ...fields }, minSeverity),
  };
}

export const silentLogger: Logger = createLogger(() => undefined);
