import { parseConfig } from '../../src/config/load';
import { isSchedulerError } from '../../src/errors';
import { dueCollectors, parseRunRequest, selectCollectors, type Trigger } from '../../src/execution/trigger';

const config = parseConfig(
  `
timezone: Europe/Paris
collectors:
  dvf: { schedule: "0 2 * * *" }
  xmp: { schedule: "*/30 * * * *" }
  xmp-6h: { schedule: "0 */6 * * *" }
  daily-14: { schedule: "0 14 * * *" }
  off: { schedule: "* * * * *", enabled: false }
  manual-only: {}
`,
  'c.yaml',
  {},
);

const names = (list: { name: string }[]) => list.map((c) => c.name);

describe('which collectors a trigger runs', () => {
  it('a tick runs the enabled collectors due in that minute, in the configured time zone', () => {
    // 13:00 UTC is 14:00 in Paris (CET, UTC+1, in November).
    expect(names(dueCollectors(config, Date.parse('2026-11-22T13:00:00Z')))).toEqual(['xmp', 'daily-14']);
    expect(names(dueCollectors(config, Date.parse('2026-11-22T13:00:59.999Z')))).toEqual(['xmp', 'daily-14']);
    expect(names(dueCollectors(config, Date.parse('2026-11-22T11:00:00Z')))).toEqual(['xmp', 'xmp-6h']);
    expect(names(dueCollectors(config, Date.parse('2026-11-22T13:30:00Z')))).toEqual(['xmp']);
    expect(names(dueCollectors(config, Date.parse('2026-11-22T13:01:00Z')))).toEqual([]);
    expect(names(dueCollectors(config, Date.parse('2026-11-22T01:00:00Z')))).toEqual(['dvf', 'xmp']);
    // Summer time: 02:00 Paris is 00:00 UTC.
    expect(names(dueCollectors(config, Date.parse('2026-07-01T00:00:00Z')))).toEqual(['dvf', 'xmp']);
    expect(names(dueCollectors(config, Date.parse('2026-07-01T04:00:00Z')))).toEqual(['xmp', 'xmp-6h']);
  });

  const base: Trigger = {
    source: 'http',
    tickMs: null,
    jobName: null,
    collectors: null,
    mode: null,
    dryRun: false,
    force: false,
  };

  it('a plain manual trigger runs every enabled collector', () => {
    const s = selectCollectors(config, base, Date.parse('2026-11-22T10:07:00Z'));
    expect(s.kind).toBe('manual');
    expect(names(s.collectors)).toEqual(['dvf', 'xmp', 'xmp-6h', 'daily-14', 'manual-only']);
  });

  it('an explicit list runs those, in config order, disabled ones included', () => {
    const s = selectCollectors(config, { ...base, collectors: ['off', 'dvf'] }, 0);
    expect(s.kind).toBe('explicit');
    expect(names(s.collectors)).toEqual(['dvf', 'off']);
  });

  it('an unknown name is a COLLECTOR_UNKNOWN error with a suggestion, and nothing is selected', () => {
    try {
      selectCollectors(config, { ...base, collectors: ['dvf', 'xpm'] }, 0);
      throw new Error('expected an error');
    } catch (error) {
      expect(isSchedulerError(error, 'COLLECTOR_UNKNOWN')).toBe(true);
      expect((error as Error).message).toMatch(
        /unknown collector "xpm" \(did you mean "xmp"\?\); configured: dvf, xmp, xmp-6h, daily-14, off, manual-only/,
      );
    }
  });

  it('a tick uses the minute of the tick as the scheduled time', () => {
    const s = selectCollectors(config, { ...base, tickMs: Date.parse('2026-11-22T13:00:42Z') }, 0);
    expect(s).toMatchObject({ kind: 'tick', scheduledTimeMs: Date.parse('2026-11-22T13:00:00Z') });
  });
});

describe('run requests', () => {
  const body = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o));

  it('no body: a manual trigger', () => {
    expect(parseRunRequest(undefined, {})).toEqual({
      source: 'http',
      tickMs: null,
      jobName: null,
      collectors: null,
      mode: null,
      dryRun: false,
      force: false,
    });
    expect(parseRunRequest(Buffer.from('  '), {}).collectors).toBeNull();
  });

  it('Cloud Scheduler headers make a tick', () => {
    const t = parseRunRequest(undefined, {
      'x-cloudscheduler-scheduletime': '2026-11-22T13:00:00.123Z',
      'x-cloudscheduler-jobname': 'projects/p/locations/l/jobs/master',
      'x-cloudscheduler': 'true',
    });
    expect(t).toMatchObject({
      source: 'cloud-scheduler',
      tickMs: Date.parse('2026-11-22T13:00:00.123Z'),
      jobName: 'projects/p/locations/l/jobs/master',
    });
  });

  it('reads collectors (list or comma string), at, mode, dryRun and force', () => {
    expect(
      parseRunRequest(
        body({
          collectors: ['dvf', 'xmp', 'dvf'],
          at: '2026-11-22T13:00:00Z',
          mode: 'tasks',
          dryRun: true,
          force: true,
        }),
        {},
      ),
    ).toEqual({
      source: 'http',
      tickMs: Date.parse('2026-11-22T13:00:00Z'),
      jobName: null,
      collectors: ['dvf', 'xmp'],
      mode: 'tasks',
      dryRun: true,
      force: true,
    });
    expect(parseRunRequest(body({ collectors: 'dvf, xmp' }), {}).collectors).toEqual(['dvf', 'xmp']);
  });

  it.each([
    ['not JSON', '{collectors: dvf}', /request body is not JSON/],
    ['a JSON array', '["dvf"]', /request body must be a JSON object/],
    ['an unknown field', { colectors: ['dvf'] }, /colectors: unknown field; did you mean "collectors"\?/],
    ['a wrong type', { dryRun: 'yes' }, /dryRun: expected true or false, got "yes"/],
    ['a bad mode', { mode: 'queue' }, /mode: must be one of http, tasks/],
    ['a bad time', { at: 'tomorrow' }, /at: must be an ISO 8601 time/],
    ['an empty list', { collectors: [] }, /the list is empty/],
  ])('rejects %s with a clear REQUEST_INVALID', (_label, input, message) => {
    try {
      parseRunRequest(body(input), {});
      throw new Error('expected an error');
    } catch (error) {
      expect(isSchedulerError(error, 'REQUEST_INVALID')).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('rejects a malformed X-CloudScheduler-ScheduleTime', () => {
    expect(() => parseRunRequest(undefined, { 'x-cloudscheduler-scheduletime': 'yesterday' })).toThrow(
      /X-CloudScheduler-ScheduleTime header "yesterday" is not an RFC 3339 time/,
    );
  });
});
