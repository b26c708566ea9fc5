import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface FakeGcloud {
  /** Environment for the CLI: the fake first on PATH, and where it logs and keeps its state. */
  env: Record<string, string>;
  /** Every call so far, as argument lists (without `gcloud`). */
  calls(): string[][];
  clearCalls(): void;
  /** The project model (resources, bindings, enabled services) or canned answers. */
  setState(state: unknown): void;
  state(): Record<string, unknown>;
  cleanup(): void;
}

/** A recording fake `gcloud` (tests/support/processes/fake-gcloud.js) in a directory of its own, first on PATH. */
export function fakeGcloud(): FakeGcloud {
  const dir = mkdtempSync(path.join(tmpdir(), 'fake-gcloud-'));
  const log = path.join(dir, 'calls.jsonl');
  const stateFile = path.join(dir, 'state.json');
  const script = path.join(dir, 'gcloud');
  writeFileSync(
    script,
    `#!/bin/sh\nexec "${process.execPath}" "${path.resolve(__dirname, 'processes/fake-gcloud.js')}" "$@"\n`,
  );
  chmodSync(script, 0o755);
  return {
    env: {
      PATH: `${dir}${path.delimiter}${process.env['PATH'] ?? ''}`,
      FAKE_GCLOUD_LOG: log,
      FAKE_GCLOUD_STATE: stateFile,
    },
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as string[])
        : [],
    clearCalls: () => rmSync(log, { force: true }),
    setState: (state) => writeFileSync(stateFile, JSON.stringify(state)),
    state: () =>
      existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>) : {},
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
