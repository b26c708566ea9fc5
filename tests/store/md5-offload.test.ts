import { createHash } from 'node:crypto';
import { inlineHash, streamHash, type StreamHash } from '../../src/store/md5-offload';
import { seededRandom } from '../support/seeded-random';

const MB = 1024 * 1024;

function bytes(size: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const data = Buffer.alloc(Math.ceil(size / 4) * 4);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  return data.subarray(0, size);
}

/** Feeds `data` in pieces of the given sizes (cycled), honouring the hasher's waits. */
async function feed(hash: StreamHash, data: Buffer, pieces: number[]): Promise<string> {
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const size = pieces[i % pieces.length]!;
    await hash.update(data.subarray(at, at + size));
    at += size;
  }
  return hash.digest();
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

describe('streamHash (MD5 on a worker thread)', () => {
  it('gives the MD5 of the whole stream, across batch boundaries and with more batches than it holds', async () => {
    // 9.5 MB in odd pieces: several 1 MB batches filled across chunk edges, and waits for free batches.
    const data = bytes(9.5 * MB, 1);
    expect(await feed(streamHash(), data, [65_536, 1, 999_999, 3 * MB + 7])).toBe(md5(data));
  });

  it('gives the MD5 of an empty stream and of a one-byte stream', async () => {
    expect(await streamHash().digest()).toBe(md5(Buffer.alloc(0)));
    expect(await feed(streamHash(), Buffer.from('x'), [1])).toBe(md5(Buffer.from('x')));
  });

  it('keeps concurrent streams apart', async () => {
    const a = bytes(3 * MB, 2);
    const b = bytes(2 * MB + 5, 3);
    const [da, db] = await Promise.all([feed(streamHash(), a, [100_000]), feed(streamHash(), b, [333_333])]);
    expect([da, db]).toEqual([md5(a), md5(b)]);
  });

  it('still hashes after a stream was abandoned half-way', async () => {
    const abandoned = streamHash();
    await abandoned.update(bytes(2 * MB, 4));
    abandoned.abort();
    const data = bytes(MB + 1, 5);
    expect(await feed(streamHash(), data, [4096])).toBe(md5(data));
  });

  it('agrees with the inline hash used for small objects', async () => {
    const data = bytes(1.5 * MB, 6);
    expect(await feed(inlineHash(), data, [70_000])).toBe(await feed(streamHash(), data, [70_000]));
  });
});
