/** One structured log line: Cloud Logging reads `severity` and `message`, and keeps the rest. */
export const SEVERITIES = ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface LogEntry {
  severity: Severity;
  message: string;
  [field: string]: unknown;
}
