import { SchedulerError } from '../errors';

export interface ConfigProblem {
  /** Dotted key path, e.g. `collectors.dvf.schedule`; empty for the file as a whole. */
  path: string;
  line: number | null;
  message: string;
}

/** The config file is wrong; the message lists every problem as `file:line key.path: what is wrong`. */
export class ConfigError extends SchedulerError {
  readonly problems: readonly ConfigProblem[];

  constructor(source: string, problems: ConfigProblem[]) {
    const sorted = [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    const lines = sorted.map(
      (p) => `${source}${p.line ? `:${p.line}` : ''} ${p.path ? `${p.path}: ` : ''}${p.message}`,
    );
    super(
      'CONFIG_INVALID',
      lines.length === 1 ? lines[0]! : `${source} has ${lines.length} problems:\n  ${lines.join('\n  ')}`,
      {
        details: { file: source, problems: sorted },
      },
    );
    this.name = 'ConfigError';
    this.problems = sorted;
  }
}

/** Reports one problem at a config key path; the loader collects them all before failing. */
export type Complain = (path: string, message: string) => void;
