import { createHash } from 'node:crypto';
import { dvf } from '../../collectors/dvf';
import { headerProblem, DVF_COLUMNS } from '../../collectors/dvf/csv-rows';
import { newestRelease } from '../../collectors/dvf/release';
import { parseIndex } from '../../collectors/files-index';
import { tempDirs } from '../support/temp';
import { gate } from '../support/upstreams/faults';
import { startDvfUpstream, type DvfUpstream, type DvfUpstreamOptions } from '../support/upstreams/dvf';
import { allText, makeHarness, verifyManifest, type Harness } from './harness';

const temp = tempDirs();
let upstream: DvfUpstream | null = null;

afterEach(async () => {
  await upstream?.close();
  upstream = null;
  temp.cleanup();
});

async function setup(options: DvfUpstreamOptions = {}): Promise<{ up: DvfUpstream; h: Harness }> {
  upstream = await startDvfUpstream(options);
  return { up: upstream, h: makeHarness(temp.make('dvf')) };
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

describe('dvf collector', () => {
  it.each(['nginx', 'table'] as const)(
    'streams every year the release holds (%s listing) into <release>/<year>/departements/<dep>.csv.gz with rows counted',
    async (indexFormat) => {
      const { up, h } = await setup({ releases: ['2024-10', '2025-04'], indexFormat });
      const { record, httpStatus } = await h.run(dvf, { base_url: up.baseUrl, departements: ['75', '2A'] });

      expect(httpStatus).toBe(200);
      expect(record.status).toBe('success');
      const manifest = record.manifest!;
      await verifyManifest(h.raw, 'dvf', manifest);
      // Default years: every year the release's listing holds.
      expect(manifest.objects.map((o) => o.key).sort()).toEqual(
        [2023, 2024, 2025].flatMap((y) => [
          `2025-04/${y}/departements/2A.csv.gz`,
          `2025-04/${y}/departements/75.csv.gz`,
        ]),
      );
      for (const object of manifest.objects) {
        const [, year, , file] = object.key.split('/');
        const served = up.file('2025-04', Number(year), file!.replace('.csv.gz', ''));
        expect(object).toMatchObject({ records: served.rows, bytes: served.gz.length, md5: md5(served.gz) });
        expect(object.contentType).toBe('application/gzip');
      }
      expect(record.result?.records).toBe(manifest.objects.reduce((n, o) => n + (o.records ?? 0), 0));
      expect(record.result?.summary).toMatchObject({
        release: { name: '2025-04', source: 'index' },
        years: [2023, 2024, 2025],
        files: { written: 6, skipped: 0 },
      });
      expect(record.result?.units).toMatchObject({ total: 6, succeeded: 6, failed: 0 });
      // Downloaded from the dated folder the listing named, not from the `latest` alias.
      expect(up.fileRequests().every((p) => p.startsWith('/geo-dvf/2025-04/csv/'))).toBe(true);
      expect(await h.readState('dvf', 'files/2024/75.json')).toMatchObject({
        release: '2025-04',
        key: '2025-04/2024/departements/75.csv.gz',
        md5: md5(up.file('2025-04', 2024, '75').gz),
        index: { size: String(up.file('2025-04', 2024, '75').gz.length) },
      });
    },
  );

  it.each(['nginx', 'table'] as const)(
    'fetches again a file revised in place (%s listing): same release folder, another size and date',
    async (indexFormat) => {
      const { up, h } = await setup({ indexFormat });
      const options = { base_url: up.baseUrl, departements: ['13', '33'], years: [2024] };
      await h.run(dvf, options, { scheduledTime: '2026-11-20T02:00:00Z' });
      expect(up.fileRequests()).toHaveLength(2);

      up.revise('2025-04', 2024, '33');
      const next = await h.run(dvf, options, { scheduledTime: '2026-11-21T02:00:00Z' });

      expect(up.fileRequests()).toHaveLength(3);
      expect(up.fileRequests()[2]).toBe('/geo-dvf/2025-04/csv/2024/departements/33.csv.gz');
      const revised = up.file('2025-04', 2024, '33');
      expect(next.record.manifest?.objects).toEqual([
        expect.objectContaining({
          key: '2025-04/2024/departements/33.csv.gz',
          md5: md5(revised.gz),
          records: revised.rows,
        }),
      ]);
      expect(next.record.result?.summary).toMatchObject({
        revised: { files: ['2024/33'] },
        skipped: { unchanged: { files: ['2024/13'] } },
      });
      expect(md5((await h.readRaw('dvf', '2025-04/2024/departements/33.csv.gz'))!)).toBe(md5(revised.gz));
    },
  );

  it('reads YYYY-MM-DD release folders and picks the one covering the latest day', async () => {
    const { up, h } = await setup({ releases: ['2025-04', '2025-10-15', '2025-06'] });
    const { record } = await h.run(dvf, { base_url: up.baseUrl, departements: ['75'], years: [2025] });
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key)).toEqual(['2025-10-15/2025/departements/75.csv.gz']);
  });

  it('takes the national full.csv.gz per year with files: national', async () => {
    const { up, h } = await setup();
    const { record } = await h.run(dvf, { base_url: up.baseUrl, files: 'national', years: [2024, 2025] });
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key)).toEqual([
      '2025-04/2024/full.csv.gz',
      '2025-04/2025/full.csv.gz',
    ]);
    expect(record.manifest?.objects[0]?.records).toBe(up.file('2025-04', 2024, 'full').rows);
    expect(up.fileRequests()).toEqual([
      '/geo-dvf/2025-04/csv/2024/full.csv.gz',
      '/geo-dvf/2025-04/csv/2025/full.csv.gz',
    ]);
  });

  it('with count_rows: false, checks the header only and stores the file whole, rows uncounted', async () => {
    const { up, h } = await setup({ rows: () => 5000 });
    const { record } = await h.run(dvf, {
      base_url: up.baseUrl,
      files: 'national',
      years: [2025],
      count_rows: false,
    });
    expect(record.status).toBe('success');
    const served = up.file('2025-04', 2025, 'full');
    expect(record.manifest?.objects).toEqual([
      expect.objectContaining({
        key: '2025-04/2025/full.csv.gz',
        records: null,
        md5: md5(served.gz),
        bytes: served.gz.length,
      }),
    ]);

    const wrong = DVF_COLUMNS.map((c) => (c === 'latitude' ? 'lat' : c)).join(',');
    await upstream!.close();
    const other = await setup({ header: wrong });
    const bad = await other.h.run(dvf, {
      base_url: other.up.baseUrl,
      files: 'national',
      years: [2025],
      count_rows: false,
    });
    expect(bad.record.status).toBe('failed');
    expect(bad.record.error).toContain('header column 40 is "lat", expected "latitude"');
  });

  it('isolates a failing file: the others are stored, the run is success with the failure in its manifest', async () => {
    const { up, h } = await setup();
    up.faults.inject(
      { kind: 'status', status: 502 },
      { times: 100, match: /2025\/departements\/33\.csv\.gz$/ },
    );
    const { record, httpStatus } = await h.run(dvf, {
      base_url: up.baseUrl,
      departements: ['13', '33', '44'],
      years: [2025],
    });

    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key).sort()).toEqual([
      '2025-04/2025/departements/13.csv.gz',
      '2025-04/2025/departements/44.csv.gz',
    ]);
    expect(record.manifest?.units).toMatchObject({
      total: 3,
      succeeded: 2,
      failed: 1,
      failures: [
        {
          unit: 'file 2025/33',
          errorType: 'HTTPError',
          retryable: true,
          error: expect.stringContaining('answered 502'),
        },
      ],
    });
    expect(record.result?.units).toMatchObject({ failed: 1 });
    // No watermark for the failed file: the next run tries it again.
    expect(await h.readState('dvf', 'files/2025/33.json')).toBeNull();
    await verifyManifest(h.raw, 'dvf', record.manifest!);
  });

  it('is idempotent for one scheduledTime: a rerun leaves the same objects and downloads nothing', async () => {
    const { up, h } = await setup();
    const options = { base_url: up.baseUrl, departements: ['01', '33'], years: [2024] };
    const first = await h.run(dvf, options);
    const keys = await h.rawKeys('dvf');
    const requestsBefore = up.fileRequests().length;

    const second = await h.run(dvf, options, { executionId: 'exec-2', attempt: 2 });

    expect(first.record.status).toBe('success');
    expect(second.record.status).toBe('success');
    expect(await h.rawKeys('dvf')).toEqual(keys);
    expect(keys.filter((k) => k.endsWith('.csv.gz'))).toHaveLength(2);
    expect(up.fileRequests().length).toBe(requestsBefore);
    expect(second.record.result?.summary).toMatchObject({
      files: { written: 0, skipped: 2 },
      skipped: { unchanged: { files: ['2024/01', '2024/33'] } },
    });
  });

  it('skips files already stored for the current release and downloads a new release in full', async () => {
    const { up, h } = await setup({ releases: ['2025-04'] });
    const options = { base_url: up.baseUrl, departements: ['13'], years: [2024, 2025] };
    await h.run(dvf, options, { scheduledTime: '2026-11-20T02:00:00Z' });
    expect(up.fileRequests()).toHaveLength(2);

    const unchanged = await h.run(dvf, options, { scheduledTime: '2026-11-21T02:00:00Z' });
    expect(unchanged.record.status).toBe('success');
    expect(up.fileRequests()).toHaveLength(2);
    expect(unchanged.record.manifest?.objects).toEqual([]);
    expect(JSON.stringify(unchanged.record.result?.summary)).toContain('already stored for release 2025-04');

    up.publish('2025-10');
    const next = await h.run(dvf, options, { scheduledTime: '2026-11-22T02:00:00Z' });
    expect(next.record.manifest?.objects.map((o) => o.key).sort()).toEqual([
      '2025-10/2024/departements/13.csv.gz',
      '2025-10/2025/departements/13.csv.gz',
    ]);
    expect(up.fileRequests()).toHaveLength(4);
    expect(await h.readState('dvf', 'files/2025/13.json')).toMatchObject({ release: '2025-10' });
  });

  it('without a release listing, compares ETag / Last-Modified and skips a file the server says is unchanged', async () => {
    const { up, h } = await setup({ listing: false, validators: true });
    const options = { base_url: up.baseUrl, departements: ['44'], years: [2025] };
    const first = await h.run(dvf, options, { scheduledTime: '2026-11-20T02:00:00Z' });
    expect(first.record.manifest?.objects.map((o) => o.key)).toEqual([
      'fetched-20261120T020000Z/2025/departements/44.csv.gz',
    ]);
    expect(first.record.result?.summary).toMatchObject({ release: { source: 'unresolved' } });

    const second = await h.run(dvf, options, { scheduledTime: '2026-11-21T02:00:00Z' });
    const conditional = up.server.requests.at(-1)!;
    expect(conditional.headers['if-none-match']).toBe(up.file('2025-04', 2025, '44').etag);
    expect(second.record.manifest?.objects).toEqual([]);
    expect(second.record.result?.summary).toMatchObject({ skipped: { unchanged: { files: ['2025/44'] } } });
  });

  it('recognises an unchanged file from its headers when the server ignores conditional requests', async () => {
    const { up, h } = await setup({ listing: false, validators: true, conditional: false });
    const options = { base_url: up.baseUrl, departements: ['44'], years: [2025] };
    await h.run(dvf, options, { scheduledTime: '2026-11-20T02:00:00Z' });
    const second = await h.run(dvf, options, { scheduledTime: '2026-11-21T02:00:00Z' });
    expect(second.record.manifest?.objects).toEqual([]);
    expect(await h.rawKeys('dvf')).not.toContain('fetched-20261121T020000Z/2025/departements/44.csv.gz');
  });

  it('reports the excluded départements (404) as skipped, not as a failure', async () => {
    const { up, h } = await setup();
    const { record, httpStatus } = await h.run(dvf, {
      base_url: up.baseUrl,
      departements: ['75', '57', '67', '68', '976'],
      years: [2025],
    });
    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    expect(record.manifest?.objects.map((o) => o.key)).toEqual(['2025-04/2025/departements/75.csv.gz']);
    expect(record.result?.summary).toMatchObject({
      skipped: { excluded: { files: ['2025/57', '2025/67', '2025/68', '2025/976'] } },
    });
    // The listing has no file for them: nothing was asked for.
    expect(up.fileRequests()).toEqual(['/geo-dvf/2025-04/csv/2025/departements/75.csv.gz']);
  });

  it('fails, not retryable, naming options.years, when no configured year is in the release', async () => {
    const { up, h } = await setup();
    const { record, httpStatus } = await h.run(dvf, {
      base_url: up.baseUrl,
      departements: ['75'],
      years: [2019, 2020],
    });
    expect(record.status).toBe('failed');
    expect(record.retryable).toBe(false);
    expect(httpStatus).toBe(200);
    expect(record.error).toContain(
      'options.years: 2019 is not in geo-dvf release 2025-04, which holds 2023, 2024, 2025',
    );
    expect(record.manifest?.units).toMatchObject({
      failed: 2,
      failures: [{ unit: '2019' }, { unit: '2020' }],
    });
    expect(up.fileRequests()).toEqual([]);
  });

  it('fails, not retryable, when no requested file exists at all without a listing (a wrong base_url or year)', async () => {
    const { up, h } = await setup({ listing: false });
    const { record } = await h.run(dvf, { base_url: up.baseUrl, departements: ['75'], years: [2019] });
    expect(record.status).toBe('failed');
    expect(record.retryable).toBe(false);
    expect(record.error).toMatch(/no geo-dvf file found .* check options.base_url and options.years/);
  });

  it('refuses a file whose header is not the 40 documented columns, and stores nothing of it', async () => {
    const wrong = DVF_COLUMNS.map((c) => (c === 'valeur_fonciere' ? 'prix' : c)).join(',');
    const { up, h } = await setup({ header: wrong });
    const { record, httpStatus } = await h.run(dvf, {
      base_url: up.baseUrl,
      departements: ['75'],
      years: [2025],
    });
    expect(record.status).toBe('failed');
    expect(record.retryable).toBe(false);
    expect(httpStatus).toBe(200);
    expect(record.error).toContain('header column 5 is "prix", expected "valeur_fonciere"');
    expect((await h.rawKeys('dvf')).filter((k) => k.endsWith('.csv.gz'))).toEqual([]);
    expect(await h.readState('dvf', 'files/2025/75.json')).toBeNull();
  });

  it('fails bad options as not retryable (HTTP 200), naming the option', async () => {
    const { up, h } = await setup();
    const { record, httpStatus } = await h.run(dvf, {
      base_url: up.baseUrl,
      years: [1999],
      departements: ['20'],
    });
    expect(httpStatus).toBe(200);
    expect(record.status).toBe('failed');
    expect(record.retryable).toBe(false);
    expect(record.error).toContain('options.years.0: must be 2014 or later');
    expect(record.error).toContain('options.departements.0: "20" is not a département');
    expect(up.server.requests).toHaveLength(0);
  });

  it('retries an upstream 5xx, then fails as retryable (HTTP 503)', async () => {
    const { up, h } = await setup();
    up.faults.inject({ kind: 'status', status: 502 }, { times: 100, match: /\.csv\.gz$/ });
    const { record, httpStatus } = await h.run(dvf, {
      base_url: up.baseUrl,
      departements: ['75'],
      years: [2025],
    });
    expect(record.status).toBe('failed');
    expect(record.retryable).toBe(true);
    expect(httpStatus).toBe(503);
    expect(record.error).toContain('answered 502');
    expect(up.fileRequests()).toHaveLength(4);
    expect(h.clock.sleeps).toHaveLength(3);
  });

  it('honours Retry-After on a 429 and restarts a download whose connection was reset mid-body', async () => {
    const { up, h } = await setup({ rows: () => 3000 });
    up.faults.inject(
      { kind: 'status', status: 429, headers: { 'retry-after': '7' } },
      { match: /75\.csv\.gz$/ },
    );
    up.faults.inject({ kind: 'truncate', afterBytes: 1000 }, { match: /75\.csv\.gz$/ });
    up.faults.inject({ kind: 'reset' }, { match: /75\.csv\.gz$/ });
    const { record } = await h.run(dvf, { base_url: up.baseUrl, departements: ['75'], years: [2025] });

    expect(record.status).toBe('success');
    expect(h.clock.sleeps[0]).toBe(7000);
    expect(up.faults.applied.map((f) => f.kind)).toEqual(['status', 'truncate', 'reset']);
    const served = up.file('2025-04', 2025, '75');
    expect(record.manifest?.objects).toEqual([
      expect.objectContaining({
        key: '2025-04/2025/departements/75.csv.gz',
        md5: md5(served.gz),
        records: 3000,
      }),
    ]);
    expect(md5((await h.readRaw('dvf', '2025-04/2025/departements/75.csv.gz'))!)).toBe(md5(served.gz));
  });

  it('streams a multi-MB file: the store receives it in chunks while the upstream is still sending', async () => {
    const rows = 40_000;
    const { up, h } = await setup({ rows: () => rows, gzipLevel: 0 });
    const total = up.file('2025-04', 2025, '75').gz.length;
    expect(total).toBeGreaterThan(6 * 1024 * 1024);
    // The server stops after 1 MB until the store has seen data: a collector that buffered the body
    // whole would wait forever (and the test time out) instead of passing.
    up.pauseNextFile(1024 * 1024, h.raw.nextFirstChunk());
    const { record } = await h.run(dvf, { base_url: up.baseUrl, departements: ['75'], years: [2025] });

    expect(record.status).toBe('success');
    const stream = h.raw.streams.find((s) => s.key.endsWith('75.csv.gz'))!;
    expect(stream.bytes).toBe(total);
    expect(stream.chunks).toBeGreaterThan(20);
    expect(stream.largestChunk).toBeLessThan(1024 * 1024);
    expect(record.manifest?.objects[0]).toMatchObject({ bytes: total, records: rows });
  });

  it('settles promptly when its signal aborts mid-download, leaving no partial object', async () => {
    const { up, h } = await setup({ rows: () => 20_000, gzipLevel: 0 });
    const never = gate();
    up.pauseNextFile(256 * 1024, never.promise);
    const controller = new AbortController();
    const run = dvf.run(
      h.context(dvf, { base_url: up.baseUrl, departements: ['75'], years: [2025] }, controller.signal),
    );
    await h.raw.nextFirstChunk();
    controller.abort(new Error('deadline reached'));
    await expect(run).rejects.toThrow('deadline reached');
    never.open();
    // Not even the store's temp file is left behind.
    expect(await allText(h.dir + '/raw').catch(() => '')).toBe('');
    expect(await h.readState('dvf', 'files/2025/75.json')).toBeNull();
  });
});

describe('dvf helpers', () => {
  it('finds the newest release folder in a listing, YYYY-MM or YYYY-MM-DD', () => {
    const newest = (html: string) => newestRelease(parseIndex(html));
    expect(newest('<a href="2024-10/">2024-10/</a><a href="2025-04/">x</a><a href="latest/">')).toBe(
      '2025-04',
    );
    expect(newest('<a href="/geo-dvf/2023-06/">2023-06/</a>')).toBe('2023-06');
    expect(newest('<a href="2025-06-20/">a</a>\n<a href="2025-06/">b</a>\n<a href="2025-06-15/">c</a>')).toBe(
      '2025-06',
    );
    expect(newest('<a href="latest/">latest/</a>')).toBeNull();
  });

  it('reads size and date from both listing markups', () => {
    const nginx = parseIndex(
      '<pre><a href="../">../</a>\n<a href="01.csv.gz">01.csv.gz</a>     02-Apr-2025 10:00     1234567\n<a href="2024/">2024/</a>   02-Apr-2025 10:00   -\n</pre>',
    );
    expect(nginx).toEqual([
      { name: '01.csv.gz', isDirectory: false, size: '1234567', bytes: 1234567, date: '02-Apr-2025 10:00' },
      { name: '2024', isDirectory: true, size: null, bytes: null, date: '02-Apr-2025 10:00' },
    ]);
    const table = parseIndex(
      '<tr><td><a href="/geo-dvf/2025-10/csv/2024/departements/2A.csv.gz">2A.csv.gz</a></td><td>4567</td><td>2025-10-16 08:12</td></tr>',
    );
    expect(table).toEqual([
      { name: '2A.csv.gz', isDirectory: false, size: '4567', bytes: 4567, date: '2025-10-16 08:12' },
    ]);
  });

  it('names what is wrong with a header', () => {
    expect(headerProblem([...DVF_COLUMNS])).toBeNull();
    expect(headerProblem([''])).toBe('the file is empty (no header line)');
    expect(headerProblem(DVF_COLUMNS.slice(0, 39))).toContain('missing "latitude"');
    expect(headerProblem([...DVF_COLUMNS, 'extra'])).toContain('extra "extra"');
  });
});
