import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * This package's version, read from its package.json: found by walking up from this file, since the
 * compiled copy (dist/src/util) sits one level deeper than the source.
 */
export function packageVersion(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'collector-scheduler' && pkg.version) return pkg.version;
    } catch {
      // No package.json here (or not ours): keep walking up.
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}
