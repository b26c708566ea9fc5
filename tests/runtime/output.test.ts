import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { RawOutput } from '../../src/runtime/output';
import { CollectorRegistry } from '../../src/runtime/registry';
import { FsObjectStore } from '../../src/store/fs-store';
import { tempDirs } from '../support/temp';
import { writesOne } from '../support/test-collectors';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

describe('raw output and manifests', () => {
  const scheduledTime = new Date('2026-11-22T02:00:00Z');

  it('lists every object with bytes, md5 and records, at manifests/<scheduled time>.json', async () => {
    const store = new FsObjectStore(dirs.make());
    const out = new RawOutput(store.scope('dvf'), { collector: 'dvf', executionId: 'e1', scheduledTime });
    await out.write('a.json', '{"a":1}', { contentType: 'application/json', records: 1 });
    // A streamed object's record count is only known once the stream has ended.
    let counted: number | null = null;
    async function* rows() {
      yield Buffer.from('x\n');
      yield Buffer.from('y\n');
      counted = 2;
    }
    await out.writeStream('b.csv', Readable.from(rows()), {
      contentType: 'text/csv',
      records: () => counted,
    });
    const manifest = await out.finish();
    expect(manifest.location).toMatch(/dvf\/manifests\/20261122T020000Z\.json$/);
    const md5 = (text: string) => createHash('md5').update(text).digest('hex');
    expect(manifest.objects).toEqual([
      { key: 'a.json', bytes: 7, md5: md5('{"a":1}'), records: 1, contentType: 'application/json' },
      { key: 'b.csv', bytes: 4, md5: md5('x\ny\n'), records: 2, contentType: 'text/csv' },
    ]);
    expect(manifest.totals).toEqual({ objects: 2, bytes: 11, records: 3 });
  });

  it('keeps what earlier attempts of the same execution wrote, and starts afresh for a new execution', async () => {
    const store = new FsObjectStore(dirs.make());
    const first = new RawOutput(store.scope('sirene'), {
      collector: 'sirene',
      executionId: 'e1',
      scheduledTime,
    });
    await first.write('p1.ndjson', '{}\n', { contentType: 'application/x-ndjson', records: 1 });
    await first.write('p2.ndjson', '{}\n', { contentType: 'application/x-ndjson', records: 1 });
    await first.finish();
    const retry = new RawOutput(store.scope('sirene'), {
      collector: 'sirene',
      executionId: 'e1',
      scheduledTime,
    });
    await retry.write('p2.ndjson', '{}\n{}\n', { contentType: 'application/x-ndjson', records: 2 });
    await retry.write('p3.ndjson', '{}\n', { contentType: 'application/x-ndjson', records: 1 });
    const resumed = await retry.finish();
    expect(resumed.objects.map((o) => [o.key, o.records])).toEqual([
      ['p1.ndjson', 1],
      ['p2.ndjson', 2],
      ['p3.ndjson', 1],
    ]);
    const rerun = new RawOutput(store.scope('sirene'), {
      collector: 'sirene',
      executionId: 'e2',
      scheduledTime,
    });
    await rerun.write('p1.ndjson', '{}\n', { contentType: 'application/x-ndjson', records: 1 });
    expect((await rerun.finish()).objects.map((o) => o.key)).toEqual(['p1.ndjson']);
  });
});

describe('the collector registry', () => {
  it('rejects a second collector under the same name', () => {
    const registry = new CollectorRegistry([writesOne('dvf')]);
    expect(() => registry.register(writesOne('dvf'))).toThrow(
      expect.objectContaining({
        code: 'COLLECTOR_DUPLICATE',
        message: 'a collector named "dvf" is already registered',
      }),
    );
    expect(registry.names()).toEqual(['dvf']);
  });
});
