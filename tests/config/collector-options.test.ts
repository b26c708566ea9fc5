import { builtinCollectors } from '../../collectors';
import { ConfigError } from '../../src/config/errors';
import { parseConfig } from '../../src/config/load';

/**
 * Collector options are part of the config: checked at load by each built-in collector's own parser,
 * with the original layout's `data_sources` merged in, and reported as config errors with key and line.
 */

const collectors = builtinCollectors();
const load = (yaml: string, env: Record<string, string> = {}) =>
  parseConfig(yaml, 'config/config.yaml', env, { collectors });

function problemsOf(yaml: string): string {
  try {
    load(yaml);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('collector options at config load', () => {
  it.each([
    [
      'a département that does not exist',
      'collectors:\n  dvf:\n    options:\n      departements: ["75", "999"]\n',
      'config/config.yaml:4 collectors.dvf.options.departements.1: "999" is not a département (01-95 but no 20, 2A, 2B, 971-976)',
    ],
    [
      'a year no DVF release holds',
      'collectors:\n  dvf:\n    options: { years: [2013] }\n',
      'config/config.yaml:3 collectors.dvf.options.years.0: must be 2014 or later',
    ],
    [
      'a file: URL',
      'collectors:\n  dvf:\n    options:\n      base_url: "file:///etc/passwd"\n',
      'config/config.yaml:4 collectors.dvf.options.base_url: is not an http(s) URL',
    ],
    [
      'a javascript: URL',
      'collectors:\n  plu:\n    options:\n      base_url: "javascript:alert(1)"\n',
      'config/config.yaml:4 collectors.plu.options.base_url: is not an http(s) URL',
    ],
    [
      'a data: URL in a nested option',
      'collectors:\n  xmp:\n    options:\n      auth: login\n      console:\n        login_url: "data:text/plain,hi"\n',
      'config/config.yaml:6 collectors.xmp.options.console.login_url: is not an http(s) URL',
    ],
    [
      'an options list instead of a mapping',
      'collectors:\n  dvf:\n    options: []\n',
      'config/config.yaml:3 collectors.dvf.options: must be a mapping of option names to values, not a list',
    ],
    [
      'an unknown option, with a suggestion',
      'collectors:\n  sirene:\n    options: { months_bak: 2 }\n',
      'config/config.yaml:3 collectors.sirene.options.months_bak: unknown option; did you mean "months_back"?',
    ],
    [
      'a metric name that cannot be one',
      'collectors:\n  xmp-daily:\n    collector: xmp\n    options:\n      metrics: ["impression", "cost per install"]\n',
      'config/config.yaml:5 collectors.xmp-daily.options.metrics.1: is not a metric name',
    ],
    [
      'an option of the other source',
      'collectors:\n  insee-contours:\n    options: { layers: [communes] }\n',
      'config/config.yaml:3 collectors.insee-contours.options.layers: applies to source: static, and source is api',
    ],
    [
      'a disabled entry too',
      'collectors:\n  plu:\n    enabled: false\n    options: { communes: ["7505"] }\n',
      'config/config.yaml:4 collectors.plu.options.communes.0: "7505" is not an INSEE commune code',
    ],
  ])('refuses %s, naming the key path and line', (_name, yaml, expected) => {
    expect(problemsOf(yaml)).toContain(expected);
  });

  it('accepts the repository’s default options', () => {
    const config = load(
      'collectors:\n  dvf: { options: { departements: ["75"] } }\n  sirene: {}\n  plu: {}\n  xmp: {}\n',
    );
    expect(config.collectors.map((c) => c.name)).toEqual(['dvf', 'sirene', 'plu', 'xmp']);
  });
});

describe('the original layout’s data_sources', () => {
  const original = (dataSources: string, extra = '') => `
data_sources:
${dataSources}
scheduler:
  collectors:
    dvf: { enabled: true, schedule: "0 2 * * *" }
    sirene: { enabled: true, schedule: "0 3 * * *" }
    insee_contours: { enabled: true, schedule: "0 4 1 * *" }
    plu: { enabled: true, schedule: "0 5 * * 0" }
${extra}`;

  it('feeds the collectors’ options where they mean the same thing, and lists the rest as not mapped', () => {
    const config = load(
      original(`
  dvf: { base_url: "https://files.data.gouv.fr/geo-dvf/latest/csv/", years: ["2023", 2024] }
  sirene:
    base_url: https://files.data.gouv.fr/insee-sirene/
    stock_files: [StockEtablissement_utf8.zip, StockUniteLegale_utf8.zip]
    optional_files: [StockEtablissementHistorique_utf8.zip]
    months_back: 3
  insee_contours: { data_types: [communes, epci], formats: [geojson], target_year: 2024, fallback_years: [2023] }
  plu:
    wfs_endpoint: https://wxs.ign.fr/x/geoportail/wfs
    max_features: 1000
    layer_types: [zone_urba]
    filter_options: { insee_codes: ["75056", "35238"], default_bbox: [2.2, 48.8, 2.5, 48.9] }
  bdnb: { url: "https://example.org" }`),
    );
    const options = Object.fromEntries(config.collectors.map((c) => [c.name, c.options]));
    expect(options['dvf']).toEqual({ years: [2023, 2024] });
    expect(options['sirene']).toEqual({
      stock_files: ['StockEtablissement_utf8.zip', 'StockUniteLegale_utf8.zip'],
      months_back: 3,
    });
    expect(options['insee_contours']).toEqual({
      source: 'static',
      layers: ['communes', 'epci'],
      year: 2024,
      fallback_years: [2023],
    });
    expect(options['plu']).toEqual({
      max_features: 1000,
      communes: ['75056', '35238'],
      bbox: [2.2, 48.8, 2.5, 48.9],
    });
    // The original's insee_contours runs the built-in insee-contours collector.
    expect(config.collectors.find((c) => c.name === 'insee_contours')!.implementation).toBe('insee-contours');
    expect(config.ignored.map((i) => i.path)).toEqual([
      'data_sources.dvf.base_url',
      'data_sources.sirene.base_url',
      'data_sources.sirene.optional_files',
      'data_sources.insee_contours.formats',
      'data_sources.plu.wfs_endpoint',
      'data_sources.plu.layer_types',
      'data_sources.bdnb',
    ]);
  });

  it('lets the entry’s own options win', () => {
    const config = load(
      original('  dvf: { years: [2022] }').replace(
        'dvf: { enabled: true,',
        'dvf: { options: { years: [2025] }, enabled: true,',
      ),
    );
    expect(config.collectors.find((c) => c.name === 'dvf')!.options).toEqual({ years: [2025] });
  });

  it('names the data_sources key and line of a value that cannot work', () => {
    expect(
      problemsOf(
        original('  dvf:\n    years: [2010, 2024]\n  plu:\n    filter_options: { insee_codes: ["75"] }'),
      ),
    ).toMatch(
      /config\/config\.yaml:4 data_sources\.dvf\.years\.0: must be 2014 or later[\s\S]*config\/config\.yaml:6 data_sources\.plu\.filter_options\.insee_codes\.0: "75" is not an INSEE commune code/,
    );
  });
});

describe('the original layout’s other sections', () => {
  const sections = `
processing_config: { batch_size: 1000, parallel_workers: 4 }
logging_config: { level: INFO, format: json }
cloud_functions: { runtime: python311, memory_mb: 1024, timeout_seconds: 540, region: europe-west1 }
monitoring: { enable_alerts: true, alert_channels: [email, slack], failure_threshold: 2 }
features: { enable_caching: true }
collectors:
  dvf: { schedule: "0 2 * * *" }
`;

  it('load, with monitoring normalised on the Config and what nothing uses listed', () => {
    const config = load(sections);
    expect(config.monitoring).toEqual({
      enableAlerts: true,
      alertChannels: ['email', 'slack'],
      failureThreshold: 2,
    });
    expect(config.ignored).toEqual([
      { path: 'processing_config', why: expect.any(String) },
      { path: 'logging_config', why: expect.any(String) },
      { path: 'features', why: expect.any(String) },
      { path: 'cloud_functions.runtime', why: expect.any(String) },
    ]);
    // memory_mb and region go to what `scheduler deploy` sets up; monitoring to the alerts.
    expect(config.deploy).toMatchObject({ memory: '1024Mi', region: 'europe-west1', timeoutSeconds: 540 });
    expect(config.alerts).toMatchObject({ enabled: true, failureThreshold: 2 });
    // Unset, the deadline fits the functions' timeout with room for the report.
    expect(config.scheduler.deadlineSeconds).toBe(500);
    expect(
      load(sections.replace('timeout_seconds: 540', 'timeout_seconds: 300')).scheduler.deadlineSeconds,
    ).toBe(270);
  });

  it('refuses a deadline that does not fit in cloud_functions.timeout_seconds, saying why', () => {
    expect(problemsOf(`${sections}scheduler: { deadline_seconds: 530 }\n`)).toMatch(
      /scheduler\.deadline_seconds: 530 s does not fit in cloud_functions\.timeout_seconds \(540 s\): the function is killed at its timeout, and the report may take 30 s \(scheduler\.report_budget_seconds\) after the deadline; set deadline_seconds to at most 510/,
    );
  });

  it('has no monitoring without the section, and reads it as the alerts do (on unless disabled)', () => {
    expect(load('collectors: {}\n').monitoring).toBeNull();
    expect(load('monitoring: { alert_channels: [email] }\n').monitoring).toEqual({
      enableAlerts: true,
      alertChannels: ['email'],
      failureThreshold: 3,
    });
    // Read defensively: the original file's shape was never fixed, so it is never rejected.
    expect(load('monitoring: { enable_alerts: false, failure_threshold: many }\n').monitoring).toEqual({
      enableAlerts: false,
      alertChannels: [],
      failureThreshold: 3,
    });
    // The report budget counts: a longer one leaves less of the function's timeout to collect.
    expect(
      load('cloud_functions: { timeout_seconds: 300 }\nscheduler: { report_budget_seconds: 60 }\n').scheduler
        .deadlineSeconds,
    ).toBe(240);
  });
});
