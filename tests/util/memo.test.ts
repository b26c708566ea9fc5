import { Memo, MemoMap } from '../../src/util/single-flight';

describe('Memo', () => {
  it('loads once for callers at the same time and keeps the value', async () => {
    let loads = 0;
    const memo = new Memo(async () => ++loads);
    const [a, b] = await Promise.all([memo.get(), memo.get()]);
    expect([a, b, await memo.get()]).toEqual([1, 1, 1]);
    expect(loads).toBe(1);
  });

  it('forgets a failed load, tells onFailure, and loads again on the next call', async () => {
    let loads = 0;
    const failures: unknown[] = [];
    const memo = new Memo(
      async () => {
        loads++;
        if (loads === 1) throw new Error('outage');
        return 'value';
      },
      (error) => failures.push((error as Error).message),
    );
    await expect(memo.get()).rejects.toThrow('outage');
    expect(failures).toEqual(['outage']);
    expect(memo.peek()).toBeNull();
    await expect(memo.get()).resolves.toBe('value');
    expect(loads).toBe(2);
  });

  it('clear() makes the next call load again', async () => {
    let loads = 0;
    const memo = new Memo(async () => ++loads);
    await memo.get();
    memo.clear();
    await expect(memo.get()).resolves.toBe(2);
  });
});

describe('MemoMap', () => {
  it('keeps one value per key and forgets only the keys whose load failed', async () => {
    const calls: string[] = [];
    const map = new MemoMap<string, string>();
    const load = async (key: string) => {
      calls.push(key);
      if (key === 'bad' && calls.filter((k) => k === 'bad').length === 1) throw new Error('no');
      return key.toUpperCase();
    };
    await expect(map.get('a', load)).resolves.toBe('A');
    await expect(map.get('a', load)).resolves.toBe('A');
    await expect(map.get('bad', load)).rejects.toThrow('no');
    await expect(map.get('bad', load)).resolves.toBe('BAD');
    expect(calls).toEqual(['a', 'bad', 'bad']);
    expect(map.peekAll()).toHaveLength(2);
    map.clear();
    expect(map.peekAll()).toHaveLength(0);
  });
});
