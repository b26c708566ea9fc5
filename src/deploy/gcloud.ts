import { execFile } from 'node:child_process';

export interface GcloudResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs gcloud with these arguments. Injectable: tests put a recording fake `gcloud` on PATH instead. */
export type GcloudRunner = (args: readonly string[]) => Promise<GcloudResult>;

/** A runner for the gcloud binary at `binary` (found on PATH when a bare name); never prompts. */
export function gcloudRunner(
  binary: string,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs = 600_000,
): GcloudRunner {
  return (args) =>
    new Promise((resolve) => {
      execFile(
        binary,
        [...args],
        {
          env: { ...env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
          timeout: timeoutMs,
          maxBuffer: 16 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0;
          resolve({ code, stdout, stderr: stderr || (error && code === 127 ? error.message : '') });
        },
      );
    });
}
