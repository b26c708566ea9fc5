import type { TestServer } from '../http';
import { startDvfUpstream } from './dvf';
import type { Faults } from './faults';
import { startGeoUpstream } from './geo';
import { communeWithPlu, startPluUpstream } from './plu';
import { startStockUpstream } from './sirene-stock';
import { startXmpUpstream } from './xmp';

/**
 * One loopback upstream per built-in collector, with the options (and environment) that point the
 * collector at it: what the shared conformance suite runs every collector against. A collector added to
 * `builtinCollectors()` needs an entry here, or the suite fails for it.
 */
export interface UpstreamFixture {
  options: Record<string, unknown>;
  env: Record<string, string>;
  server: TestServer;
  faults: Faults;
  /** Injects faults that make exactly one of the run's units of work fail, whatever its retries. */
  failOneUnit(): void;
  close(): Promise<void>;
}

export const XMP_TEST_PASSWORD = 'conformance-xmp-password-5c1f';

export const upstreamFixtures: Readonly<Record<string, () => Promise<UpstreamFixture>>> = {
  'insee-contours': async () => {
    const up = await startGeoUpstream();
    return {
      options: { base_url: up.url, departements: ['75', '92'] },
      env: {},
      failOneUnit: () =>
        up.faults.inject({ kind: 'status', status: 500 }, { times: 10, match: /codeDepartement=92/ }),
      ...up,
    };
  },
  dvf: async () => {
    const up = await startDvfUpstream({ releases: ['2025-04'] });
    return {
      options: { base_url: up.baseUrl, departements: ['01', '75', '57'], years: [2024, 2025] },
      env: {},
      failOneUnit: () =>
        up.faults.inject(
          { kind: 'status', status: 502 },
          { times: 10, match: /2025\/departements\/01\.csv\.gz$/ },
        ),
      ...up,
    };
  },
  sirene: async () => {
    // The default source without a key: the monthly stock files (the API source has its own tests).
    const up = await startStockUpstream([
      { name: '2026-11-01-StockEtablissement_utf8.zip', csvBytes: 512 * 1024, seed: 1 },
      { name: '2026-11-01-StockUniteLegale_utf8.zip', csvBytes: 128 * 1024, seed: 2 },
    ]);
    return {
      options: {
        stock_base_url: up.baseUrl,
        stock_files: ['StockEtablissement_utf8.zip', 'StockUniteLegale_utf8.zip'],
      },
      env: {},
      failOneUnit: () =>
        up.faults.inject({ kind: 'status', status: 503 }, { times: 10, match: /StockUniteLegale/ }),
      ...up,
    };
  },
  plu: async () => {
    const up = await startPluUpstream([communeWithPlu('75056', 20), communeWithPlu('35238', 5)]);
    return {
      options: { base_url: up.baseUrl, communes: ['75056', '35238'] },
      env: {},
      failOneUnit: () => up.faults.inject({ kind: 'status', status: 500 }, { times: 10, match: /DU_35238/ }),
      ...up,
    };
  },
  xmp: async () => {
    // The login style exercises the token broker too; no rate limit, since the fixture cannot share the
    // harness's fake clock (the collector's own limiter is tested in tests/collectors/xmp.test.ts).
    const up = await startXmpUpstream({
      username: 'collector@example.com',
      password: XMP_TEST_PASSWORD,
      requestsPerMinute: null,
    });
    return {
      options: { auth: 'login', console: { login_url: up.loginUrl, api_base: up.consoleBase }, page_size: 5 },
      env: { XMP_USERNAME: 'collector@example.com', XMP_PASSWORD: XMP_TEST_PASSWORD },
      // The first day's report: four transient answers exhaust its attempts; the second day goes on.
      failOneUnit: () => up.faults.inject({ kind: 'status', status: 503 }, { times: 4, match: /admanage/ }),
      ...up,
    };
  },
};
