import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where test artefacts a person may want to look at (screenshots) are written; gitignored. */
export const TEST_OUTPUT = path.resolve(__dirname, '../../test-output');

/** Debian's Chromium, as `.ci/run` (scripts/ensure-chromium.sh) installs it; `$CHROMIUM_PATH` wins. */
export function chromiumPath(): string {
  const candidates = [process.env['CHROMIUM_PATH'], 'chromium', 'chromium-browser'].filter(
    (c): c is string => typeof c === 'string' && c !== '',
  );
  for (const c of candidates) {
    try {
      return execFileSync('sh', ['-c', `command -v "${c}"`], { encoding: 'utf8' }).trim();
    } catch {
      // Not on PATH: try the next name.
    }
  }
  throw new Error(
    'no Chromium found for the report-page test: run scripts/ensure-chromium.sh (apt-get install -y chromium), or set CHROMIUM_PATH',
  );
}

/**
 * Real headless Chromium, driven by playwright-core, in a fresh profile; offline by construction (no
 * QUIC, no background networking, no component updates, no sync): it only ever loads the loopback
 * pages the test names.
 */
export async function launchChromium(
  options: { javaScriptEnabled?: boolean } = {},
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(path.join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 900 },
    javaScriptEnabled: options.javaScriptEnabled ?? true,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
