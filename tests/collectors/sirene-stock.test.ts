import { createHash } from 'node:crypto';
import { sirene } from '../../collectors/sirene';
import { monthlyFiles } from '../../collectors/sirene/stock';
import { parseIndex } from '../../collectors/files-index';
import { tempDirs } from '../support/temp';
import { startStockUpstream, type StockFile, type StockUpstream } from '../support/upstreams/sirene-stock';
import { makeHarness, SinkStore, verifyManifest, type Harness } from './harness';

const temp = tempDirs();
let upstream: StockUpstream | null = null;

afterEach(async () => {
  await upstream?.close();
  upstream = null;
  temp.cleanup();
});

const KB = 1024;
const MB = 1024 * KB;
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

function stockFile(name: string, csvBytes = 300 * KB, seed = 1): StockFile {
  return { name, csvBytes, seed };
}

const MONTHS = [
  stockFile('2026-09-01-StockEtablissement_utf8.zip', 200 * KB, 9),
  stockFile('2026-10-01-StockEtablissement_utf8.zip', 250 * KB, 10),
  stockFile('2026-11-01-StockEtablissement_utf8.zip', 300 * KB, 11),
  stockFile('2026-11-01-StockUniteLegale_utf8.zip', 120 * KB, 21),
  stockFile('StockEtablissement_utf8.zip', 300 * KB, 11),
  // Published after the run's day: not taken.
  stockFile('2026-12-01-StockEtablissement_utf8.zip', 100 * KB, 12),
];

async function setup(
  files = MONTHS,
  options: { listing?: boolean } = {},
): Promise<{ up: StockUpstream; h: Harness }> {
  upstream = await startStockUpstream(files, options);
  return { up: upstream, h: makeHarness(temp.make('sirene-stock')) };
}

describe('sirene collector, stock source', () => {
  it('without a key, streams the month’s StockEtablissement zip into stock/<YYYY-MM>/ (no key needed)', async () => {
    const { up, h } = await setup();
    const { record, httpStatus } = await h.run(sirene, { stock_base_url: up.baseUrl }, { env: {} });

    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    // One download of that one file. A retry is the only second request allowed, and only after a
    // failure the log names (seen under CI load: the upstream closed a kept-alive connection as the
    // download started on it).
    const retries = h.logs.filter((e) => /download failed, retrying/.test(e.message)).length;
    expect(up.fileRequests()).toEqual(
      Array(1 + retries).fill('/insee-sirene/2026-11-01-StockEtablissement_utf8.zip'),
    );
    const stored = await h.readRaw('sirene', 'stock/2026-11/StockEtablissement_utf8.zip');
    expect(stored?.length).toBe(up.zipSize('2026-11-01-StockEtablissement_utf8.zip'));
    expect(md5(stored!)).toBe(up.lastMd5());
    expect(record.manifest?.objects).toEqual([
      expect.objectContaining({
        key: 'stock/2026-11/StockEtablissement_utf8.zip',
        contentType: 'application/zip',
        records: null,
      }),
    ]);
    await verifyManifest(h.raw, 'sirene', record.manifest!);
    expect(record.result?.summary).toMatchObject({
      source: 'stock',
      stored: ['StockEtablissement_utf8.zip 2026-11'],
    });
    // Written through the store's streaming path. (That it is streamed rather than buffered is shown
    // on a 1.2 GB file below: at 300 kB, how many pieces arrive depends on the runtime's HTTP stack, and
    // Node 24's fetch hands over most of the file at once.)
    const stream = h.raw.streams.find((s) => s.key.endsWith('StockEtablissement_utf8.zip'))!;
    expect(stream.bytes).toBe(stored!.length);
  });

  it('skips a month whose file is already stored, and takes the next month when it is published', async () => {
    const { up, h } = await setup(MONTHS.slice(0, 2));
    const options = { stock_base_url: up.baseUrl };
    await h.run(sirene, options, { env: {} });
    const again = await h.run(sirene, options, { env: {}, scheduledTime: '2026-11-23T02:00:00Z' });
    expect(up.fileRequests()).toEqual(['/insee-sirene/2026-10-01-StockEtablissement_utf8.zip']);
    expect(again.record.manifest?.objects).toEqual([]);
    expect(again.record.result?.summary).toMatchObject({
      skipped: { files: ['StockEtablissement_utf8.zip 2026-10'] },
    });

    up.add(MONTHS[2]!);
    const next = await h.run(sirene, options, { env: {}, scheduledTime: '2026-11-24T02:00:00Z' });
    expect(next.record.manifest?.objects.map((o) => o.key)).toEqual([
      'stock/2026-11/StockEtablissement_utf8.zip',
    ]);
  });

  it('takes StockUniteLegale too when listed in stock_files, and months_back months of each', async () => {
    const { up, h } = await setup();
    const { record } = await h.run(
      sirene,
      {
        source: 'stock',
        stock_base_url: up.baseUrl,
        stock_files: ['StockEtablissement_utf8.zip', 'StockUniteLegale_utf8.zip'],
        months_back: 2,
      },
      { env: { SIRENE_API_KEY: 'a-key-the-stock-source-does-not-need' } },
    );
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key).sort()).toEqual([
      'stock/2026-10/StockEtablissement_utf8.zip',
      'stock/2026-11/StockEtablissement_utf8.zip',
      'stock/2026-11/StockUniteLegale_utf8.zip',
    ]);
  });

  it('without a listing, takes the undated latest file once per month', async () => {
    const { up, h } = await setup(MONTHS, { listing: false });
    const first = await h.run(sirene, { stock_base_url: up.baseUrl }, { env: {} });
    expect(first.record.manifest?.objects.map((o) => o.key)).toEqual([
      'stock/2026-11/StockEtablissement_utf8.zip',
    ]);
    expect(up.fileRequests()).toEqual(['/insee-sirene/StockEtablissement_utf8.zip']);
    const second = await h.run(
      sirene,
      { stock_base_url: up.baseUrl },
      { env: {}, scheduledTime: '2026-11-25T02:00:00Z' },
    );
    expect(second.record.status).toBe('success');
    expect(up.fileRequests()).toHaveLength(1);
  });

  it('restarts a download cut mid-body, and refuses a body that is not a zip without storing it', async () => {
    const { up, h } = await setup();
    up.faults.inject({ kind: 'truncate', afterBytes: 100 * KB }, { match: /StockEtablissement/ });
    const { record } = await h.run(sirene, { stock_base_url: up.baseUrl }, { env: {} });
    expect(record.status).toBe('success');
    expect(up.fileRequests()).toHaveLength(2);
    expect(md5((await h.readRaw('sirene', 'stock/2026-11/StockEtablissement_utf8.zip'))!)).toBe(up.lastMd5());

    const other = makeHarness(temp.make('sirene-stock-html'));
    up.faults.inject(
      { kind: 'status', status: 200, body: '<html>maintenance</html>' },
      { match: /StockEtablissement/ },
    );
    const html = await other.run(sirene, { stock_base_url: up.baseUrl }, { env: {} });
    expect(html.record.status).toBe('failed');
    expect(html.record.retryable).toBe(false);
    expect(html.record.error).toMatch(/is not a whole zip file: it does not start like a zip file/);
    expect(await other.rawKeys('sirene')).toEqual([`manifests/20261122T020000Z.json`]);
  });

  it('isolates a failing file: the other is stored and the failure is in the manifest', async () => {
    const { up, h } = await setup();
    up.faults.inject({ kind: 'status', status: 503 }, { times: 10, match: /StockUniteLegale/ });
    const { record, httpStatus } = await h.run(
      sirene,
      {
        stock_base_url: up.baseUrl,
        stock_files: ['StockEtablissement_utf8.zip', 'StockUniteLegale_utf8.zip'],
      },
      { env: {} },
    );
    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key)).toEqual(['stock/2026-11/StockEtablissement_utf8.zip']);
    expect(record.manifest?.units).toMatchObject({
      total: 2,
      failed: 1,
      failures: [{ unit: 'StockUniteLegale_utf8.zip 2026-11', retryable: true }],
    });
  });

  it('streams a 1.2 GB stock zip with flat memory: never more than a few MB between the server and the store', async () => {
    const size = 1200 * MB;
    upstream = await startStockUpstream([stockFile('2026-11-01-StockEtablissement_utf8.zip', size, 3)]);
    const up = upstream;
    let consumed = 0;
    let chunks = 0;
    let largestChunk = 0;
    let mostInFlight = 0;
    const sink = new SinkStore('sink://raw', (chunk) => {
      consumed += chunk.byteLength;
      chunks++;
      largestChunk = Math.max(largestChunk, chunk.byteLength);
      // What left the server but has not reached the store yet: socket buffers and the stream's queue.
      // A collector holding the body (or a growing part of it) would let this grow towards 1.2 GB.
      mostInFlight = Math.max(mostInFlight, up.sent() - consumed);
    });
    const h = makeHarness(temp.make('sirene-stock-big'), undefined, sink);
    const { record } = await h.run(sirene, { stock_base_url: up.baseUrl }, { env: {}, timeoutSeconds: 3600 });

    expect(record.error).toBeNull();
    expect(record.status).toBe('success');
    const total = up.zipSize('2026-11-01-StockEtablissement_utf8.zip');
    expect(total).toBeGreaterThan(1200 * MB);
    expect(consumed).toBe(total);
    expect(sink.streamed.get('sirene/stock/2026-11/StockEtablissement_utf8.zip')).toEqual({
      bytes: total,
      md5: up.lastMd5(),
    });
    expect(chunks).toBeGreaterThan(1000);
    expect(largestChunk).toBeLessThanOrEqual(MB);
    expect(mostInFlight).toBeLessThan(32 * MB);
  }, 180_000);
});

describe('monthlyFiles', () => {
  it('keeps the newest copy of each month up to the day, newest months first', () => {
    const entries = parseIndex(
      [
        '2026-09-01-StockEtablissement_utf8.zip',
        '2026-10-01-StockEtablissement_utf8.zip',
        '2026-10-03-StockEtablissement_utf8.zip',
        '2026-10-01-StockUniteLegale_utf8.zip',
        '2026-11-01-StockEtablissement_utf8.zip',
        'StockEtablissement_utf8.zip',
      ]
        .map((n) => `<a href="${n}">${n}</a>   01-Nov-2026 06:00   123\n`)
        .join(''),
    );
    expect(
      monthlyFiles(entries, 'StockEtablissement_utf8.zip', '2026-10-31', 2).map((f) => f.source),
    ).toEqual(['2026-10-03-StockEtablissement_utf8.zip', '2026-09-01-StockEtablissement_utf8.zip']);
    expect(monthlyFiles(entries, 'StockUniteLegale_utf8.zip', '2026-12-01', 3).map((f) => f.month)).toEqual([
      '2026-10',
    ]);
  });
});
