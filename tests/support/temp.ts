import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** A fresh temp directory per call; removed by `cleanup()`. */
export function tempDirs(): { make(label?: string): string; cleanup(): void } {
  const made: string[] = [];
  return {
    make(label = 'sched') {
      const dir = mkdtempSync(path.join(tmpdir(), `${label}-`));
      made.push(dir);
      return dir;
    },
    cleanup() {
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
