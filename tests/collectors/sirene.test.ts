import { sirene } from '../../collectors/sirene';
import { tempDirs } from '../support/temp';
import { gate } from '../support/upstreams/faults';
import {
  cursorFor,
  makeEtablissements,
  startSireneUpstream,
  type SireneUpstream,
  type SireneUpstreamOptions,
} from '../support/upstreams/sirene';
import { allText, makeHarness, verifyManifest, type Harness } from './harness';

const KEY = 'sirene-test-key-5f1c9a7e0b';
const ENV = { SIRENE_API_KEY: KEY };
const temp = tempDirs();
let upstream: SireneUpstream | null = null;

afterEach(async () => {
  await upstream?.close();
  upstream = null;
  temp.cleanup();
});

async function setup(
  options: Partial<SireneUpstreamOptions> = {},
): Promise<{ up: SireneUpstream; h: Harness }> {
  const h = makeHarness(temp.make('sirene'));
  upstream = await startSireneUpstream({ key: KEY, clock: h.clock, ...options });
  return { up: upstream, h };
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - (times[i] as number));

describe('sirene collector', () => {
  it('with source: api, is skipped (not failed) without an API key, and names where the key was looked for', async () => {
    const { up, h } = await setup();
    const { record, httpStatus } = await h.run(sirene, { source: 'api', base_url: up.baseUrl }, { env: {} });
    expect(httpStatus).toBe(200);
    expect(record).toMatchObject({ status: 'skipped', reason: 'missing_credentials', retryable: false });
    expect(record.error).toContain('environment variable SIRENE_API_KEY');
    expect(record.error).toContain('source: stock');
    expect(up.server.requests).toHaveLength(0);

    const secret = await h.run(
      sirene,
      { source: 'api', base_url: up.baseUrl, api_key_secret: 'projects/p/secrets/sirene/versions/latest' },
      { env: ENV, executionId: 'exec-2' },
    );
    expect(secret.record).toMatchObject({ status: 'skipped', reason: 'missing_credentials' });
    expect(secret.record.error).toContain('secret projects/p/secrets/sirene/versions/latest');
  });

  it('sweeps updates with a cursor into NDJSON pages, paced to 30 requests a minute', async () => {
    const data = makeEtablissements(2500);
    const { up, h } = await setup({ etablissements: data });
    const { record, httpStatus } = await h.run(
      sirene,
      { base_url: up.baseUrl, initial_since: '2026-11-20' },
      { env: ENV },
    );

    expect(httpStatus).toBe(200);
    expect(record.status).toBe('success');
    await verifyManifest(h.raw, 'sirene', record.manifest!);
    expect(record.manifest!.objects.map((o) => [o.key, o.records])).toEqual([
      ['20261122T020000Z/etablissements-00001.ndjson', 1000],
      ['20261122T020000Z/etablissements-00002.ndjson', 1000],
      ['20261122T020000Z/etablissements-00003.ndjson', 500],
    ]);
    const page2 = (await h.readRaw('sirene', '20261122T020000Z/etablissements-00002.ndjson'))!.toString(
      'utf8',
    );
    const lines = page2
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { siret: string });
    expect(lines).toHaveLength(1000);
    expect(lines[0]!.siret).toBe(data[1000]!.siret);

    const searches = up.searches();
    expect(searches).toHaveLength(4);
    expect(searches[0]!.get('q')).toBe('dateDernierTraitementEtablissement:[2026-11-20 TO *]');
    expect(searches[0]!.get('tri')).toBe('dateDernierTraitementEtablissement');
    expect(searches[0]!.get('nombre')).toBe('1000');
    expect(searches.map((s) => s.get('curseur'))).toEqual([
      '*',
      cursorFor(1000),
      cursorFor(2000),
      cursorFor(2500),
    ]);
    expect(up.server.requests.every((r) => r.headers['x-insee-api-key-integration'] === KEY)).toBe(true);
    // /informations + 4 searches, each at least 2 s after the previous one, on the fake clock.
    expect(up.times).toHaveLength(5);
    expect(Math.min(...gaps(up.times))).toBeGreaterThanOrEqual(2000);
    expect(record.result).toMatchObject({ records: 2500, summary: { pages: 3, requests: 5 } });
    expect(await h.readState('sirene', 'watermark.json')).toMatchObject({
      maxTraitement: data[2499]!.dateDernierTraitementEtablissement,
      publication: '2026-11-21T03:00:00.000',
    });
  });

  it('starts the next sweep one day before the watermark, and skips when INSEE published nothing new', async () => {
    const { up, h } = await setup({ etablissements: makeEtablissements(10, '2026-11-20T08:00:00.000') });
    await h.run(sirene, { base_url: up.baseUrl }, { env: ENV, scheduledTime: '2026-11-21T02:00:00Z' });
    expect(up.searches()[0]!.get('q')).toBe('dateDernierTraitementEtablissement:[2026-11-20 TO *]');

    // Nothing published since: one /informations request and no sweep.
    const idle = await h.run(
      sirene,
      { base_url: up.baseUrl },
      { env: ENV, scheduledTime: '2026-11-22T02:00:00Z' },
    );
    expect(idle.record.result).toMatchObject({ records: 0, summary: { upToDate: true } });
    expect(up.searches()).toHaveLength(2);

    up.setEtablissements([
      ...makeEtablissements(10, '2026-11-20T08:00:00.000'),
      ...makeEtablissements(5, '2026-11-23T09:00:00.000', 500000000),
    ]);
    up.setPublication('2026-11-24T03:00:00.000');
    const next = await h.run(
      sirene,
      { base_url: up.baseUrl },
      { env: ENV, scheduledTime: '2026-11-24T02:00:00Z' },
    );
    // The watermark was 2026-11-20T08:09; one day of overlap.
    expect(up.searches()[2]!.get('q')).toBe('dateDernierTraitementEtablissement:[2026-11-19 TO *]');
    expect(next.record.result?.records).toBe(15);
    expect(next.record.manifest?.objects.map((o) => o.key)).toEqual([
      '20261124T020000Z/etablissements-00001.ndjson',
    ]);
    expect(await h.readState('sirene', 'watermark.json')).toMatchObject({
      maxTraitement: '2026-11-23T09:04:00.000',
      publication: '2026-11-24T03:00:00.000',
    });
  });

  it('is idempotent for one scheduledTime: a rerun of a finished sweep writes nothing new', async () => {
    const { up, h } = await setup({ etablissements: makeEtablissements(30) });
    const first = await h.run(sirene, { base_url: up.baseUrl, page_size: 10 }, { env: ENV });
    const keys = await h.rawKeys('sirene');
    const requests = up.server.requests.length;
    up.setEtablissements(makeEtablissements(45));
    const again = await h.run(sirene, { base_url: up.baseUrl, page_size: 10 }, { env: ENV, attempt: 2 });

    expect(first.record.result?.records).toBe(30);
    expect(again.record.status).toBe('success');
    expect(again.record.result).toMatchObject({ records: 0, summary: { alreadyComplete: true, pages: 3 } });
    expect(await h.rawKeys('sirene')).toEqual(keys);
    expect(up.server.requests).toHaveLength(requests);
  });

  it('treats a 404 search as zero results', async () => {
    const { up, h } = await setup({ etablissements: [] });
    const { record } = await h.run(sirene, { base_url: up.baseUrl }, { env: ENV });
    expect(record.status).toBe('success');
    expect(record.result?.records).toBe(0);
    expect(record.manifest?.objects).toEqual([]);
    expect(up.searches()).toHaveLength(1);
  });

  it('waits out a 429: Retry-After when given, 10 s when not', async () => {
    const { up, h } = await setup({ etablissements: makeEtablissements(5) });
    up.faults.inject({ kind: 'status', status: 429, headers: { 'retry-after': '30' } }, { match: /\/siret/ });
    up.faults.inject({ kind: 'status', status: 429 }, { match: /\/siret/ });
    const { record } = await h.run(sirene, { base_url: up.baseUrl }, { env: ENV });

    expect(record.status).toBe('success');
    expect(record.result?.records).toBe(5);
    // informations, 429 (Retry-After: 30), bare 429, page, last page.
    expect(gaps(up.times)).toEqual([2000, 30000, 10000, 2000]);
  });

  it('holds off until the reset when the gateway says no request is left (rate-limit headers)', async () => {
    const { up, h } = await setup({
      etablissements: makeEtablissements(25),
      searchHeaders: (i) =>
        i === 0
          ? { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '45' }
          : { 'x-ratelimit-remaining': '12' },
    });
    const { record } = await h.run(sirene, { base_url: up.baseUrl, page_size: 10 }, { env: ENV });
    expect(record.status).toBe('success');
    expect(record.result?.records).toBe(25);
    // informations, page 1 (0 left, reset in 45 s), page 2, page 3, last page.
    expect(gaps(up.times)).toEqual([2000, 45000, 2000, 2000]);
  });

  it('retries a 5xx, then fails as retryable (HTTP 503)', async () => {
    const { up, h } = await setup({ etablissements: makeEtablissements(5) });
    up.faults.inject({ kind: 'status', status: 503 }, { times: 100, match: /\/siret/ });
    const { record, httpStatus } = await h.run(sirene, { base_url: up.baseUrl }, { env: ENV });
    expect(record.status).toBe('failed');
    expect(record.retryable).toBe(true);
    expect(httpStatus).toBe(503);
    expect(up.searches()).toHaveLength(5);
    expect(await h.readState('sirene', 'watermark.json')).toBeNull();
  });

  it('fails bad options as not retryable (HTTP 200), naming each option', async () => {
    const { up, h } = await setup();
    const { record, httpStatus } = await h.run(
      sirene,
      { base_url: up.baseUrl, page_size: 5000, api_key_secret: 'sirene-key', initial_since: '2026-13-45' },
      { env: ENV },
    );
    expect(httpStatus).toBe(200);
    expect(record).toMatchObject({ status: 'failed', retryable: false });
    expect(record.error).toContain('options.page_size: must be at most 1000');
    expect(record.error).toContain('options.api_key_secret: must look like projects/P/secrets/S/versions/V');
    expect(record.error).toContain('options.initial_since');
    expect(up.server.requests).toHaveLength(0);
  });

  it('resumes a sweep cut off by its timeout from the checkpointed cursor, not from the start', async () => {
    const data = makeEtablissements(25);
    const { up, h } = await setup({ etablissements: data });
    const options = { base_url: up.baseUrl, page_size: 10, initial_since: '2026-11-20' };
    // Page 3 is slow: it answers only when the test opens the gate, after the run has timed out.
    const page3 = gate();
    up.faults.inject(
      { kind: 'slow', gate: page3.promise },
      { match: new RegExp(`curseur=${encodeURIComponent(cursorFor(20))}`) },
    );
    const cut = h.run(sirene, options, { env: ENV, timeoutSeconds: 60 });
    await up.server.waitForRequests(4); // informations, pages 1 and 2, the hung page 3
    h.clock.advance(60_000);
    const first = await cut;
    page3.open();

    expect(first.record).toMatchObject({ status: 'failed', errorType: 'Timeout', retryable: true });
    expect(first.httpStatus).toBe(503);
    expect(first.record.manifest?.objects.map((o) => o.key)).toEqual([
      '20261122T020000Z/etablissements-00001.ndjson',
      '20261122T020000Z/etablissements-00002.ndjson',
    ]);
    // The watermark moved only as far as the data written (the results are sorted).
    expect(await h.readState('sirene', 'watermark.json')).toMatchObject({
      maxTraitement: data[19]!.dateDernierTraitementEtablissement,
    });
    expect(await h.readState('sirene', 'checkpoint.json')).toMatchObject({
      cursor: cursorFor(20),
      nextPage: 3,
    });

    const searchesBefore = up.searches().length;
    const retry = await h.run(sirene, options, { env: ENV, attempt: 2, executionId: 'exec-1' });
    expect(retry.record.status).toBe('success');
    const resumed = up.searches().slice(searchesBefore);
    expect(resumed.map((s) => s.get('curseur'))).toEqual([cursorFor(20), cursorFor(25)]);
    expect(resumed[0]!.get('q')).toBe('dateDernierTraitementEtablissement:[2026-11-20 TO *]');
    expect(retry.record.result).toMatchObject({
      records: 5,
      summary: { resumedFromPage: 3, pages: 3, records: 25 },
    });
    expect(await h.rawKeys('sirene')).toEqual(
      expect.arrayContaining([
        '20261122T020000Z/etablissements-00001.ndjson',
        '20261122T020000Z/etablissements-00002.ndjson',
        '20261122T020000Z/etablissements-00003.ndjson',
      ]),
    );
    expect(await h.readState('sirene', 'watermark.json')).toMatchObject({
      maxTraitement: data[24]!.dateDernierTraitementEtablissement,
    });
  });

  it('never lets the key reach logs, errors, summaries, manifests or state', async () => {
    const { up, h } = await setup({ etablissements: makeEtablissements(12) });
    await h.run(
      sirene,
      { base_url: up.baseUrl, page_size: 5 },
      { env: ENV, scheduledTime: '2026-11-21T02:00:00Z' },
    );
    // An upstream that echoes the key back in its error body.
    up.faults.inject(
      { kind: 'status', status: 403, body: `{"message":"key ${KEY} is not subscribed"}` },
      { match: /informations/ },
    );
    const refused = await h.run(
      sirene,
      { base_url: up.baseUrl },
      { env: ENV, scheduledTime: '2026-11-22T02:00:00Z' },
    );

    expect(refused.record).toMatchObject({ status: 'failed', retryable: false });
    expect(refused.record.error).toContain(
      'API Sirene refused the key from environment variable SIRENE_API_KEY (403)',
    );
    const everything = [JSON.stringify(h.logs), JSON.stringify(refused.record), await allText(h.dir)].join(
      '\n',
    );
    expect(everything).toContain('etablissements-00001.ndjson');
    expect(everything).not.toContain(KEY);
  });

  it('settles promptly when its signal aborts mid-request', async () => {
    const { up, h } = await setup({ etablissements: makeEtablissements(5) });
    up.faults.hangEverything();
    const controller = new AbortController();
    const run = sirene.run(h.context(sirene, { base_url: up.baseUrl }, controller.signal, ENV));
    await up.server.waitForRequests(1);
    controller.abort(new Error('deadline reached'));
    await expect(run).rejects.toThrow('deadline reached');
  });
});
