import type { Services } from '../services';

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/** Exit codes: 0 all good, 1 a collector failed, 2 bad usage or config. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface GlobalOptions {
  config?: string;
  verbose?: boolean;
}

/** Loads config and services for a command; tests pass loopback clients and clocks through it. */
export type ServicesLoader = (global: GlobalOptions) => Promise<Services>;
