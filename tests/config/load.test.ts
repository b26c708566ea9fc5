import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../src/config/errors';
import { configPath, loadConfig, parseConfig } from '../../src/config/load';
import { isSchedulerError } from '../../src/errors';

function problemsOf(yaml: string, env: Record<string, string> = {}): string {
  try {
    parseConfig(yaml, 'config.yaml', env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config errors name the file, line, key path and what was expected', () => {
  const cases: { name: string; yaml: string; env?: Record<string, string>; expected: RegExp[] }[] = [
    {
      name: 'invalid YAML',
      yaml: 'scheduler:\n  mode: http\ncollectors: [unclosed\n',
      expected: [
        /^config\.yaml:4 is not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a \]/,
      ],
    },
    {
      name: 'duplicate key',
      yaml: 'collectors:\n  dvf: {}\n  dvf: {}\n',
      expected: [/^config\.yaml:3 is not valid YAML: Map keys must be unique/],
    },
    {
      name: 'unknown key with a close match',
      yaml: 'collectors:\n  dvf:\n    shedule: "0 2 * * *"\n',
      expected: [/config\.yaml:3 collectors\.dvf\.shedule: unknown key; did you mean "schedule"\?/],
    },
    {
      name: 'unknown top-level key without a close match lists the allowed ones',
      yaml: 'timezone: UTC\nfrobnicate: 1\n',
      expected: [
        /config\.yaml:2 frobnicate: unknown key \(expected one of: timezone, storage, scheduler, collectors/,
      ],
    },
    {
      name: 'cron with four fields',
      yaml: 'collectors:\n  dvf:\n    schedule: "0 2 * *"\n',
      expected: [
        /config\.yaml:3 collectors\.dvf\.schedule: "0 2 \* \*" is not a cron expression \(5 fields expected, got 4\)/,
      ],
    },
    {
      name: 'cron with an out-of-range field',
      yaml: 'collectors:\n  dvf:\n    schedule: "0 25 * * *"\n',
      expected: [/config\.yaml:3 collectors\.dvf\.schedule: "0 25 \* \* \*" is not a valid cron expression/],
    },
    {
      name: 'cron that never fires (Feb 30)',
      yaml: 'collectors:\n  dvf:\n    schedule: "0 0 30 2 *"\n',
      expected: [/collectors\.dvf\.schedule: "0 0 30 2 \*" never fires/],
    },
    {
      name: 'wrong type',
      yaml: 'scheduler:\n  max_concurrent_collectors: many\n',
      expected: [/config\.yaml:2 scheduler\.max_concurrent_collectors: expected a number, got "many"/],
    },
    {
      name: 'out of range number',
      yaml: 'scheduler:\n  max_concurrent_collectors: 0\n',
      expected: [/config\.yaml:2 scheduler\.max_concurrent_collectors: must be at least 1 \(got 0\)/],
    },
    {
      name: 'bad mode',
      yaml: 'scheduler:\n  mode: queue\n',
      expected: [/config\.yaml:2 scheduler\.mode: must be one of http, tasks/],
    },
    {
      name: 'bad time zone',
      yaml: 'timezone: Europe/Pariss\n',
      expected: [/config\.yaml:1 timezone: is not an IANA time zone/],
    },
    {
      name: 'bad collector name',
      yaml: 'collectors:\n  Bad_Name!: {}\n',
      expected: [/collectors\.Bad_Name!: "Bad_Name!" is not a valid collector name/],
    },
    {
      name: 'bad URL',
      yaml: 'collectors:\n  dvf:\n    url: not-a-url\n',
      expected: [/config\.yaml:3 collectors\.dvf\.url: is not an http\(s\) URL/],
    },
    {
      name: 'missing environment variable',
      yaml: 'storage:\n  reports: ${REPORTS_BUCKET}\n',
      expected: [/config\.yaml:2 storage\.reports: environment variable REPORTS_BUCKET is not set/],
    },
    {
      name: 'malformed gs:// URI',
      yaml: 'storage:\n  reports: gs://Bad_Bucket/reports\n',
      expected: [
        /config\.yaml:2 storage\.reports: storage location "gs:\/\/Bad_Bucket\/reports" is not valid/,
      ],
    },
    {
      name: 'unsupported scheme',
      yaml: 'storage:\n  raw: s3://bucket/raw\n',
      expected: [/storage\.raw: .*only gs:\/\/ URIs and local paths are supported/],
    },
    {
      name: 'tasks mode without its settings',
      yaml: 'scheduler:\n  mode: tasks\ncollectors:\n  dvf: {}\n',
      expected: [
        /scheduler\.tasks\.project: is required in tasks mode/,
        /collectors\.dvf\.url: is required in tasks mode/,
      ],
    },
    {
      name: 'group_wait_seconds longer than the deadline',
      yaml: 'scheduler:\n  deadline_seconds: 100\ncollectors:\n  xmp:\n    group: xmp-account\n    group_wait_seconds: 200\n',
      expected: [
        /config\.yaml:6 collectors\.xmp\.group_wait_seconds: 200 s is longer than scheduler\.deadline_seconds \(100 s\)/,
      ],
    },
    {
      name: 'both layouts at once',
      yaml: 'collectors:\n  dvf: {}\nscheduler:\n  collectors:\n    dvf: {}\n',
      expected: [
        /scheduler\.collectors: collectors are listed both here and under the top-level "collectors" key/,
      ],
    },
    {
      name: 'several problems are all reported, in line order',
      yaml: 'scheduler:\n  mode: queue\ncollectors:\n  dvf:\n    enabled: yes please\n',
      expected: [
        /has 2 problems/,
        /:2 scheduler\.mode/,
        /:5 collectors\.dvf\.enabled: expected true or false/,
      ],
    },
  ];

  it.each(cases)('$name', ({ yaml, env, expected }) => {
    const message = problemsOf(yaml, env);
    for (const pattern of expected) expect(message).toMatch(pattern);
  });

  it('carries a stable code and structured problems', () => {
    try {
      parseConfig('collectors:\n  dvf:\n    shedule: x\n', 'c.yaml', {});
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(isSchedulerError(error, 'CONFIG_INVALID')).toBe(true);
      expect((error as ConfigError).problems).toEqual([
        { path: 'collectors.dvf.shedule', line: 3, message: 'unknown key; did you mean "schedule"?' },
      ]);
    }
  });
});

describe('config values', () => {
  it('interpolates ${VAR} and ${VAR:-default}, re-typing plain scalars', () => {
    const config = parseConfig(
      [
        'storage:',
        '  reports: gs://${BUCKET}/reports',
        '  raw: ${RAW:-./var/raw}',
        '  state: "${STATE:-./var/state}"',
        'scheduler:',
        '  max_concurrent_collectors: ${MAX:-7}',
        '  deadline_seconds: ${DEADLINE}',
        'collectors:',
        '  dvf:',
        '    enabled: ${DVF_ENABLED:-false}',
        '    options: { note: "costs $$5" }',
      ].join('\n'),
      'c.yaml',
      { BUCKET: 'my-bucket', DEADLINE: '120' },
    );
    expect(config.storage).toEqual({
      reports: 'gs://my-bucket/reports',
      raw: './var/raw',
      state: './var/state',
    });
    expect(config.scheduler.maxConcurrentCollectors).toBe(7);
    expect(config.scheduler.deadlineSeconds).toBe(120);
    expect(config.collectors[0]!.enabled).toBe(false);
    expect(config.collectors[0]!.options).toEqual({ note: 'costs $5' });
  });

  it('applies documented defaults and keeps config order', () => {
    const config = parseConfig(
      'collectors:\n  b: {}\n  a: { schedule: "@daily", retry: { attempts: 5 } }\n',
      'c.yaml',
      {},
    );
    expect(config.collectors.map((c) => c.name)).toEqual(['b', 'a']);
    expect(config.collectors[0]).toMatchObject({
      enabled: true,
      schedule: null,
      url: null,
      timeoutSeconds: 300,
      group: null,
    });
    expect(config.collectors[1]!.retry).toEqual({ attempts: 5, minBackoffSeconds: 1, maxBackoffSeconds: 30 });
    expect(config.scheduler).toMatchObject({
      mode: 'http',
      maxConcurrentCollectors: 4,
      deadlineSeconds: 500,
      auth: { type: 'none' },
    });
    expect(config.timezone).toBe('UTC');
  });

  it('is frozen', () => {
    const config = parseConfig('collectors:\n  a: {}\n', 'c.yaml', {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.collectors[0])).toBe(true);
    expect(() => {
      (config.scheduler as { mode: string }).mode = 'tasks';
    }).toThrow(TypeError);
  });

  it('refuses a configured collector that is neither built in nor reachable at a URL', () => {
    expect(() =>
      parseConfig(
        'collectors:\n  insee-contour: {}\n',
        'c.yaml',
        {},
        { builtinCollectors: ['insee-contours'] },
      ),
    ).toThrow(
      /c\.yaml:2 collectors\.insee-contour: is not a built-in collector \(did you mean "insee-contours"\?\) and has no url/,
    );
  });
});

describe('the original Python layout', () => {
  const legacy = `
# config.yaml as the Python scheduler had it
project_id: my-project
region: europe-west1
environment: production
gcs_config:
  bucket_name: my-data-bucket
  raw_prefix: raw/
  processed_prefix: processed/
data_sources:
  dvf:
    base_url: https://files.data.gouv.fr/geo-dvf/latest/csv/
    years: [2021, 2022, 2023]
  sirene:
    api_url: https://api.insee.fr/api-sirene/3.11
  xmp:
    accounts: [main]
bigquery_config:
  dataset: collectors
logging:
  level: INFO
monitoring:
  alert_email: data@example.com
scheduler:
  use_cloud_tasks: false
  queue_name: data-collectors
  service_account_email: scheduler@my-project.iam.gserviceaccount.com
  use_secret_manager: true
  max_concurrent_collectors: 3
  base_function_url: https://europe-west1-my-project.cloudfunctions.net/
  collectors:
    dvf: { enabled: true, schedule: "0 2 * * *" }
    sirene: { enabled: true, schedule: "0 3 * * *" }
    insee_contours: { enabled: false, schedule: "0 4 1 * *" }
    plu: { enabled: true, schedule: "0 5 * * 0" }
    xmp: { enabled: true, schedule: "*/30 * * * *" }
  collector_urls:
    sirene: https://sirene-collector-abc123-ew.a.run.app/collect
`;

  it('loads unchanged, with its other sections accepted, and maps onto the new model', () => {
    const config = parseConfig(legacy, 'legacy.yaml', {});
    expect(config.scheduler.mode).toBe('http');
    expect(config.scheduler.maxConcurrentCollectors).toBe(3);
    expect(config.scheduler.useSecretManager).toBe(true);
    expect(config.scheduler.tasks).toMatchObject({
      queue: 'data-collectors',
      serviceAccountEmail: 'scheduler@my-project.iam.gserviceaccount.com',
      project: 'my-project',
      location: 'europe-west1',
    });
    // Collector URL: collector_urls first, else base_function_url + "/" + name.
    const urls = Object.fromEntries(config.collectors.map((c) => [c.name, c.url]));
    expect(urls).toEqual({
      dvf: 'https://europe-west1-my-project.cloudfunctions.net/dvf',
      sirene: 'https://sirene-collector-abc123-ew.a.run.app/collect',
      insee_contours: 'https://europe-west1-my-project.cloudfunctions.net/insee_contours',
      plu: 'https://europe-west1-my-project.cloudfunctions.net/plu',
      xmp: 'https://europe-west1-my-project.cloudfunctions.net/xmp',
    });
    expect(config.collectors.find((c) => c.name === 'insee_contours')!.enabled).toBe(false);
    expect(config.collectors.find((c) => c.name === 'xmp')!.schedule).toBe('*/30 * * * *');
    // Collectors behind Cloud Functions URLs are called with Google ID tokens by default.
    expect(config.scheduler.auth).toEqual({ type: 'google-id-token' });
    expect(config.storage.reports).toBe('gs://my-data-bucket/scheduler/reports');
  });

  it('maps use_cloud_tasks: true onto tasks mode', () => {
    const config = parseConfig(
      legacy.replace('use_cloud_tasks: false', 'use_cloud_tasks: true'),
      'legacy.yaml',
      {},
    );
    expect(config.scheduler.mode).toBe('tasks');
  });

  it('still catches a typo in a legacy key', () => {
    expect(problemsOf(legacy.replace('collector_urls:', 'collector_url:'))).toMatch(
      /scheduler\.collector_url: unknown key; did you mean "collector_urls"\?/,
    );
  });
});

describe('config file location', () => {
  it('prefers --config, then $SCHEDULER_CONFIG, then config/config.yaml', () => {
    expect(configPath('a.yaml', { SCHEDULER_CONFIG: 'b.yaml' }, '/w')).toBe('/w/a.yaml');
    expect(configPath(undefined, { SCHEDULER_CONFIG: 'b.yaml' }, '/w')).toBe('/w/b.yaml');
    expect(configPath(undefined, {}, '/w')).toBe('/w/config/config.yaml');
  });

  it('says clearly when the file is missing', async () => {
    await expect(loadConfig('/nonexistent/config.yaml', {})).rejects.toMatchObject({
      code: 'CONFIG_NOT_FOUND',
      message: expect.stringMatching(
        /config file \/nonexistent\/config\.yaml does not exist; pass --config or set SCHEDULER_CONFIG/,
      ),
    });
  });

  it('loads the repository default', async () => {
    const config = await loadConfig(path.resolve(__dirname, '../../config/config.yaml'), {});
    expect(config.collectors.length).toBeGreaterThan(0);
    expect(config.storage.reports).toBe('./var/reports');
  });

  it('reads a file from disk', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
    writeFileSync(path.join(dir, 'c.yaml'), 'collectors:\n  a: { schedule: "*/5 * * * *" }\n');
    const config = await loadConfig(path.join(dir, 'c.yaml'), {});
    expect(config.collectors[0]!.schedule).toBe('*/5 * * * *');
  });
});
