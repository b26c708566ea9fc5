import { mkdirSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { main, type CliIO } from '../../src/cli/main';
import { createApp } from '../../src/http/app';
import { close, createNodeServer, listen } from '../../src/http/node-server';
import { ReportStore } from '../../src/report/report-store';
import type { Services } from '../../src/services';
import { BAR_COLOURS } from '../../src/ui/timeline';
import { FakeClock } from '../support/fake-clock';
import { launchChromium, TEST_OUTPUT } from '../support/chromium';
import { outcome, reportAt } from '../support/reports';
import { testServices } from '../support/services';
import { tempDirs } from '../support/temp';

/** The screenshot a person can look at after the suite: test-output/report-page.png. */
const SCREENSHOT = path.join(TEST_OUTPUT, 'report-page.png');

// The page-side callbacks below run in Chromium; these are the DOM names they use (the project's
// TypeScript has no DOM library).
declare const getComputedStyle: (element: unknown) => { fill: string; color: string };
type Boxed = { getBBox(): { x: number; width: number } };

const HOSTILE = 'upstream said <script>document.title="pwned"</script> & <img src=x onerror=alert(1)>';

const yaml = `
timezone: Europe/Paris
scheduler: { auth: { type: none } }
collectors:
  dvf: { url: "http://127.0.0.1:9/dvf" }
  sirene: { url: "http://127.0.0.1:9/sirene" }
  plu: { url: "http://127.0.0.1:9/plu" }
  xmp: { url: "http://127.0.0.1:9/xmp" }
  xmp-daily: { url: "http://127.0.0.1:9/xmp-daily" }
  insee-contours: { url: "http://127.0.0.1:9/insee" }
`;

/** Successes, a failure after retries, a timeout, a success after a retry, a skip, a queued retry. */
const report = reportAt(
  '2026-11-22T14:00:00Z',
  (t0) => [
    outcome('dvf', 'success', t0, 0.2, 120.5),
    outcome('sirene', 'failed', t0, 0.3, 45, 3, { error: HOSTILE, errorType: 'HTTPError' }),
    outcome('plu', 'failed', t0, 0.4, 480, 1, {
      error: 'plu did not finish within its timeout of 480 s',
      errorType: 'Timeout',
      httpStatus: null,
    }),
    outcome('xmp', 'success', t0, 1, 60, 2),
    outcome('xmp-daily', 'skipped', t0, null, null, 0, { reason: 'group_busy' }),
    outcome('insee-contours', 'running', t0, 2, null, 2, { extra: { retrying: true } }),
  ],
  { durationS: 500, suffix: 'feedc0de' },
);
const older = reportAt('2026-11-22T13:30:00Z', (t0) => [outcome('xmp', 'success', t0, 0, 20)], {
  suffix: '0ddba11a',
});

const dirs = tempDirs();
let services: Services;
let server: http.Server;
let base: string;
let browser: Awaited<ReturnType<typeof launchChromium>>;

beforeAll(async () => {
  const dir = dirs.make('ui');
  services = await testServices(yaml, dir, { clock: new FakeClock('2026-11-22T14:10:00Z') });
  const saver = new ReportStore(services.stores.reports, services.logger, () => services.clock.now());
  await saver.save(older);
  await saver.save(report);
  server = createNodeServer(createApp(async () => services));
  base = await listen(server);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (server) await close(server);
  await services?.close();
  dirs.cleanup();
});

/** Every bar, as Chromium laid it out and styled it. */
async function bars(page: Page) {
  return page.$$eval('svg#timeline rect.bar', (rects) =>
    rects.map((r) => ({
      collector: r.getAttribute('data-collector'),
      status: r.getAttribute('data-status'),
      fill: getComputedStyle(r).fill,
      width: (r as unknown as Boxed).getBBox().width,
      x: (r as unknown as Boxed).getBBox().x,
    })),
  );
}

const rgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;

describe('the report page, rendered by headless Chromium', () => {
  it('GET /ui lists executions newest first and links to each one, with no script and a strict CSP', async () => {
    const page = await browser.context.newPage();
    const response = await page.goto(`${base}/ui`);
    expect(response!.status()).toBe(200);
    expect(response!.headers()['content-type']).toBe('text/html; charset=utf-8');
    expect(response!.headers()['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-/);
    const rows = await page.$$eval('table#executions tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())),
    );
    expect(rows.map((r) => r[8])).toEqual([report.execution_id, older.execution_id]);
    expect(rows[0]!.slice(0, 7)).toEqual([
      '2026-11-22 15:00:00',
      'cloud-scheduler/tick',
      'http',
      '2',
      '2',
      '1',
      '1',
    ]);
    // Plain links: following one needs no JavaScript.
    await page.click(`a:text("${report.execution_id}")`);
    expect(page.url()).toBe(`${base}/ui/${report.execution_id}`);
    expect(await page.title()).toBe(`Execution ${report.execution_id}`);
    await page.close();
  });

  it('GET /ui/ID draws a bar per collector, coloured by status, with attempts and retries marked', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/ui/${report.execution_id}`);
    const drawn = await bars(page);
    expect(drawn.map((b) => [b.collector, b.status, b.fill])).toEqual([
      ['dvf', 'success', rgb(BAR_COLOURS.success)],
      ['sirene', 'failed', rgb(BAR_COLOURS.failed)],
      ['plu', 'timeout', rgb(BAR_COLOURS.timeout)],
      ['xmp', 'success', rgb(BAR_COLOURS.success)],
      ['insee-contours', 'running', rgb(BAR_COLOURS.running)],
    ]);
    // From start to end on one time axis: plu ran 480 s, dvf 120 s, sirene 45 s; all start at the left.
    const width = Object.fromEntries(drawn.map((b) => [b.collector, b.width]));
    expect(width['plu']! / width['dvf']!).toBeCloseTo((480 - 0.4) / (120.5 - 0.2), 1);
    expect(width['dvf']! / width['sirene']!).toBeCloseTo((120.5 - 0.2) / (45 - 0.3), 1);
    expect(new Set(drawn.map((b) => Math.round(b.x / 10))).size).toBe(1);

    // One dot per attempt: hollow for the tries that failed, filled for the last.
    const dots = await page.$$eval('svg#timeline g.row', (rows) =>
      rows.map((g) => ({
        collector: g.getAttribute('data-collector'),
        retried: g.querySelectorAll('circle.attempt.retried').length,
        last: g.querySelectorAll('circle.attempt.last').length,
        label: g.querySelector('text.label')!.textContent,
      })),
    );
    expect(dots).toEqual([
      { collector: 'dvf', retried: 0, last: 1, label: 'success 120.3 s' },
      { collector: 'sirene', retried: 2, last: 1, label: 'failed 44.7 s, 3 attempts' },
      { collector: 'plu', retried: 0, last: 1, label: 'timeout 479.6 s' },
      { collector: 'xmp', retried: 1, last: 1, label: 'success 59.0 s, 2 attempts' },
      { collector: 'xmp-daily', retried: 0, last: 0, label: 'skipped: group_busy' },
      { collector: 'insee-contours', retried: 1, last: 1, label: 'running, 2 attempts, retrying' },
    ]);

    // The errors table: the hostile message is text, not markup.
    const errors = await page.$$eval('table#errors tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(errors).toEqual([
      ['sirene', 'HTTPError', '503', '3', HOSTILE],
      ['plu', 'Timeout', '-', '1', 'plu did not finish within its timeout of 480 s'],
    ]);
    expect(await page.$$eval('script, img', (els) => els.length)).toBe(0);
    expect(await page.title()).toBe(`Execution ${report.execution_id}`);
    const statusColours = await page.$$eval('table#collectors td.status', (tds) =>
      tds.map((td) => [td.textContent, getComputedStyle(td).color]),
    );
    expect(statusColours).toContainEqual(['timeout', rgb(BAR_COLOURS.timeout)]);
    expect(statusColours).toContainEqual(['failed', rgb(BAR_COLOURS.failed)]);

    mkdirSync(TEST_OUTPUT, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });

  it('reads the same with JavaScript off', async () => {
    const noJs = await launchChromium({ javaScriptEnabled: false });
    try {
      const page = await noJs.context.newPage();
      await page.goto(`${base}/ui/${report.execution_id}`);
      expect(await page.locator('svg#timeline rect.bar').count()).toBe(5);
      expect(await page.locator('svg#timeline circle.attempt').count()).toBe(9);
      expect(await page.locator('table#errors tbody tr').count()).toBe(2);
      expect(await page.locator('table#collectors tbody tr').count()).toBe(6);
    } finally {
      await noJs.close();
    }
  });

  it('answers 404 for an unknown execution and 400 for a malformed id, as JSON', async () => {
    const page = await browser.context.newPage();
    const missing = await page.goto(`${base}/ui/20261122T140000Z-00000000`);
    expect(missing!.status()).toBe(404);
    const bad = await page.goto(`${base}/ui/..%2F..%2Fetc`);
    expect(bad!.status()).toBe(400);
    await page.close();
  });

  it('`scheduler status --html FILE` writes the same page, which Chromium draws from the file', async () => {
    const dir = dirs.make('ui-cli');
    const config = path.join(dir, 'config.yaml');
    writeFileSync(
      config,
      `storage: { reports: ${services.stores.reports.location}, raw: ${dir}/raw, state: ${dir}/state }\n${yaml}`,
    );
    let stderr = '';
    const io: CliIO = { stdout: () => undefined, stderr: (t) => (stderr += t), env: {}, cwd: dir };
    const code = await main(
      ['status', '--config', config, '--id', report.execution_id, '--html', 'page.html'],
      io,
      {
        clock: new FakeClock('2026-11-22T14:10:00Z'),
      },
    );
    expect(code).toBe(0);
    expect(stderr).toContain(`report page written to ${path.join(dir, 'page.html')}`);
    const page = await browser.context.newPage();
    await page.goto(`file://${path.join(dir, 'page.html')}`);
    expect((await bars(page)).map((b) => b.status)).toEqual([
      'success',
      'failed',
      'timeout',
      'success',
      'running',
    ]);
    // A file has nowhere to link to.
    expect(await page.locator('a').count()).toBe(0);
    await page.close();
  });
});
