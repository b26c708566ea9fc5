import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { MAX_EXPANDED_NODES } from '../../src/config/aliases';
import { ConfigError } from '../../src/config/errors';
import { parseConfig } from '../../src/config/load';
import { stateBeside } from '../../src/config/normalise';
import { tempDirs } from '../support/temp';

// Config files that are valid YAML but cannot become a config (aliases that loop or explode), empty
// environment variables where emptiness means something else, and where the state store defaults to.

function problems(yaml: string, env: Record<string, string> = {}, deployedAs?: string): ConfigError {
  try {
    parseConfig(yaml, 'config.yaml', env, deployedAs ? { deployedAs } : {});
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

/** Nine aliases of nine aliases, `depth` deep: 9^depth values from a dozen lines. */
function aliasBomb(depth: number): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= depth; i++)
    lines.push(
      `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  return lines.join('\n') + '\ncollectors:\n  dvf: {}\n';
}

describe('YAML aliases', () => {
  it('refuses an alias bomb with the file and the line of the alias that expands it', () => {
    const error = problems(aliasBomb(7));
    expect(error.problems).toHaveLength(1);
    // Line 8 (a7) is the alias of the largest node: a6, nine to the sixth power and more.
    expect(error.message).toMatch(
      new RegExp(
        `^config\\.yaml:8 aliases expand the file to more than ${MAX_EXPANDED_NODES} values \\(alias \\*a6 alone to \\d+\\): an alias bomb\\?`,
      ),
    );
  });

  it('refuses an alias inside the node it names, wherever it hides', () => {
    expect(problems('collectors:\n  dvf: &x\n    options: { self: *x }\n').message).toBe(
      'config.yaml:3 alias *x refers to a node that contains it (a cycle); write the value out instead',
    );
    expect(problems('collectors: &c\n  dvf:\n    options:\n      - [1, *c]\n').message).toMatch(
      /^config\.yaml:4 alias \*c refers to a node that contains it/,
    );
  });

  it('still accepts aliases of a normal size', () => {
    const config = parseConfig(
      [
        'collectors:',
        '  a: { schedule: "0 1 * * *", retry: &retry { attempts: 2 }, options: &opts { departements: ["75", "92"] } }',
        '  b: { schedule: "0 2 * * *", retry: *retry, options: *opts }',
      ].join('\n'),
      'c.yaml',
      {},
    );
    expect(config.collectors.map((c) => [c.name, c.retry.attempts, c.options])).toEqual([
      ['a', 2, { departements: ['75', '92'] }],
      ['b', 2, { departements: ['75', '92'] }],
    ]);
  });

  describe('through the CLI', () => {
    const dirs = tempDirs();
    afterAll(() => dirs.cleanup());
    const bin = path.resolve(__dirname, '../../bin/scheduler.js');

    it.each([
      ['an alias bomb', aliasBomb(7), /bomb\.yaml:8 aliases expand the file/],
      [
        'a self-referencing alias',
        'collectors:\n  dvf: &x\n    options: { self: *x }\n',
        /bomb\.yaml:3 alias \*x/,
      ],
    ])('%s is a config error (exit 2), not an internal error', async (_name, yaml, message) => {
      const file = path.join(dirs.make('alias'), 'bomb.yaml');
      writeFileSync(file, yaml);
      const failure = await promisify(execFile)(process.execPath, [bin, 'plan', '--config', file]).then(
        () => null,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code).toBe(2);
      expect(failure?.stderr).toMatch(message);
    });
  });
});

describe('empty environment variables', () => {
  it.each([
    ['collectors.dvf.url', 'collectors:\n  dvf:\n    url: ${DVF_URL}\n', 3],
    ['a quoted url', 'collectors:\n  dvf: { url: "${DVF_URL}" }\n', 2],
    [
      'scheduler.collector_urls.dvf',
      'scheduler:\n  collector_urls:\n    dvf: ${DVF_URL}\ncollectors:\n  dvf: {}\n',
      3,
    ],
    [
      'scheduler.base_function_url',
      'scheduler:\n  base_function_url: ${DVF_URL}\ncollectors:\n  dvf: {}\n',
      2,
    ],
  ])('an empty ${VAR} for %s is an error naming the variable', (_name, yaml, line) => {
    const error = problems(yaml, { DVF_URL: '' });
    expect(error.message).toMatch(
      new RegExp(`^config\\.yaml:${line} [a-z_.]+: environment variable DVF_URL is set but empty`),
    );
  });

  it('an empty ${VAR} elsewhere stays empty, and ${VAR:-default} still covers an empty value', () => {
    const config = parseConfig(
      'collectors:\n  dvf:\n    url: ${DVF_URL:-https://dvf.example/run}\n    options: { note: "${NOTE}" }\n',
      'c.yaml',
      { DVF_URL: '', NOTE: '' },
    );
    expect(config.collectors[0]).toMatchObject({ url: 'https://dvf.example/run', options: { note: '' } });
  });
});

describe('the state store', () => {
  it.each([
    ['gs://bucket/reports', 'gs://bucket/state'],
    ['gs://bucket/team/a/reports/', 'gs://bucket/team/a/state'],
    ['gs://bucket', 'gs://bucket/state'],
    ['gs://bucket/state', 'gs://bucket/scheduler-state'],
    ['./var/reports', './var/state'],
    ['/srv/scheduler/reports', '/srv/scheduler/state'],
    ['reports', 'state'],
  ])('defaults beside the reports: %s → %s', (reports, state) => {
    expect(stateBeside(reports)).toBe(state);
    expect(parseConfig(`storage: { reports: "${reports}" }\n`, 'c.yaml', {}).storage.state).toBe(state);
  });

  it('never lands on local disk when the reports are on gs://, even through the shipped ${SCHEDULER_STATE:-}', () => {
    const yaml = 'storage:\n  reports: ${SCHEDULER_REPORTS}\n  state: ${SCHEDULER_STATE:-}\n';
    const config = parseConfig(yaml, 'c.yaml', { SCHEDULER_REPORTS: 'gs://prod-bucket/scheduler/reports' });
    expect(config.storage.state).toBe('gs://prod-bucket/scheduler/state');
  });

  it('on a deployed instance (K_SERVICE), a local state path is an error that says why', () => {
    const implicit = problems('timezone: UTC\nstorage:\n  reports: ./var/reports\n', {}, 'scheduler');
    expect(implicit.message).toMatch(
      /^config\.yaml:2 storage: the state store is \.\/var\/state, a local path, but this is a deployed instance \(K_SERVICE=scheduler\): each instance has its own disk, so tick claims, group leases and shared tokens would not be shared and a tick could run twice/,
    );
    const explicit = problems(
      'storage:\n  reports: gs://bkt/reports\n  state: /tmp/state\n',
      {},
      'scheduler',
    );
    expect(explicit.problems[0]).toMatchObject({ path: 'storage.state', line: 3 });
    // Shared state is fine.
    expect(
      parseConfig('storage: { reports: "gs://bkt/reports" }\n', 'c.yaml', {}, { deployedAs: 'scheduler' })
        .storage.state,
    ).toBe('gs://bkt/state');
  });
});
