import { isRunWide, Units } from '../../collectors/units';
import { SchedulerError } from '../../src/errors';
import { PermanentError, SkipRun, UpstreamHttpError } from '../../src/runtime/errors';
import { RawOutput } from '../../src/runtime/output';
import { FsObjectStore } from '../../src/store/fs-store';
import { createLogger } from '../../src/util/log';
import { tempDirs } from '../support/temp';

const temp = tempDirs();
afterEach(() => temp.cleanup());

function units(signal = new AbortController().signal) {
  const output = new RawOutput(new FsObjectStore(temp.make('units')), {
    collector: 'test',
    executionId: 'exec-1',
    scheduledTime: new Date('2026-11-22T02:00:00Z'),
  });
  return { units: new Units('things', { log: createLogger(() => undefined), signal, output }), output };
}

describe('units of work', () => {
  it('goes on past a failed unit, and summarises done, skipped and failed units', async () => {
    const { units: u } = units();
    expect(await u.run('a', async () => 1)).toBe(1);
    expect(
      await u.run(
        'b',
        async () => null,
        () => 'skipped',
      ),
    ).toBeNull();
    expect(
      await u.run('c', async () => {
        throw new UpstreamHttpError('GET', 'http://x/c', 502, 'bad gateway');
      }),
    ).toBeUndefined();
    expect(u.finish()).toEqual({
      total: 3,
      succeeded: 1,
      skipped: 1,
      failed: 1,
      failures: [
        {
          unit: 'c',
          error: 'GET http://x/c answered 502: bad gateway',
          errorType: 'HTTPError',
          retryable: true,
        },
      ],
    });
  });

  it('fails the run with the very error when every unit failed the same way', async () => {
    const { units: u } = units();
    const first = new UpstreamHttpError('GET', 'http://x/a', 503, '');
    await u.run('a', async () => Promise.reject(first));
    await u.run('b', async () => Promise.reject(new UpstreamHttpError('GET', 'http://x/b', 503, '')));
    expect(() => u.finish()).toThrow(first);
  });

  it('fails the run with a summary when units failed in different ways, retryable if one may pass later', async () => {
    const { units: u, output } = units();
    await u.run('a', async () => Promise.reject(new PermanentError('a is wrong')));
    await u.run('b', async () => Promise.reject(new UpstreamHttpError('GET', 'http://x/b', 503, '')));
    let thrown: unknown;
    try {
      u.finish();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SchedulerError);
    expect(thrown).not.toBeInstanceOf(PermanentError);
    expect((thrown as Error).message).toBe('every one of the 2 things failed (first: a: a is wrong)');
    // The manifest still lists them.
    expect((await output.finish()).units).toMatchObject({ failed: 2 });
  });

  it.each([
    ['a refused token', new SchedulerError('TOKEN_REFUSED', 'refused')],
    ['a skip', new SkipRun('missing_credentials', 'no key')],
    ['a store that cannot be written', new SchedulerError('STORE_UNAVAILABLE', 'down')],
    ['a run-wide permanent error', new PermanentError('bad', { details: { scope: 'run' } })],
    ['a bug', new TypeError('x is not a function')],
  ])('ends the run at once on %s', async (_name, error) => {
    const { units: u } = units();
    await expect(u.run('a', async () => Promise.reject(error))).rejects.toBe(error);
    expect(isRunWide(error, new AbortController().signal)).toBe(true);
  });

  it('ends the run when its signal aborts, whatever the unit threw', async () => {
    const controller = new AbortController();
    const { units: u } = units(controller.signal);
    controller.abort(new Error('deadline'));
    await expect(u.run('a', async () => 1)).rejects.toThrow('deadline');
  });
});
