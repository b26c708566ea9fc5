import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { recordRun, recordRuns, step, type Streak } from '../../src/alerts/streaks';
import { ALERT_LOG_LABEL } from '../../src/alerts/notify';
import { parseConfig } from '../../src/config/load';
import { createApp } from '../../src/http/app';
import { openStore } from '../../src/store/open';
import { collectorServer } from '../support/collector-servers';
import { countingStore } from '../support/reports';
import { FakeClock } from '../support/fake-clock';
import { json, startServer, type TestServer } from '../support/http';
import { testServices } from '../support/services';
import { STORE_KINDS, storeFixture } from '../support/stores';

/** A webhook that answers like Slack's ("ok") or with `status`. */
async function webhook(status = 200): Promise<TestServer> {
  return startServer((_req, res) => {
    if (status === 200) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    else json(res, status, {});
  });
}

describe.each(STORE_KINDS)('failure alerts on the %s store', (kind) => {
  const storage = storeFixture(kind);
  const servers: TestServer[] = [];
  let flaky: TestServer;
  let steady: TestServer;
  beforeAll(async () => {
    await storage.setup();
    // Fails its first four calls (one per tick: retries are off), then succeeds, then fails again.
    flaky = await collectorServer(
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
      { kind: 'ok', result: { records: 1 } },
      { kind: 'status', status: 500 },
    );
    steady = await collectorServer({ kind: 'ok', result: { records: 2 } });
    servers.push(flaky, steady);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await storage.teardown();
  });
  let n = 0;

  async function rig(alerts: string, env: Record<string, string> = {}) {
    const base = storage.uri(`case-${++n}`);
    const clock = new FakeClock('2026-11-22T00:00:00Z');
    const services = await testServices(
      `
storage: { reports: ${base}/reports, raw: ${base}/raw, state: ${base}/state }
scheduler:
  auth: { type: none }
  retry: { attempts: 1 }
collectors:
  flaky: { url: "${flaky.url}/run", schedule: "0 * * * *" }
  steady: { url: "${steady.url}/run", schedule: "0 * * * *" }
${alerts}`,
      '',
      { clock, env },
    );
    const app = createApp(async () => services);
    const tick = async (hour: number) => {
      const at = `2026-11-22T${String(hour).padStart(2, '0')}:00:00Z`;
      clock.advance(Date.parse(at) - clock.now());
      return app({ method: 'POST', path: '/run', headers: {}, body: Buffer.from(JSON.stringify({ at })) });
    };
    return { services, tick };
  }

  it('sends one notification when a collector fails 3 ticks in a row, then one when it recovers; never one per failure', async () => {
    const hook = await webhook();
    const slack = await webhook();
    servers.push(hook, slack);
    const before = flaky.requests.length;
    const { services, tick } = await rig(
      `alerts:\n  failure_threshold: 3\n  webhook: { url: "${hook.url}/alerts" }\n  slack: { webhook_env: SLACK_URL }\n`,
      { SLACK_URL: `${slack.url}/services/T000/B000/XXXXSECRETXXXX` },
    );
    try {
      const seen: number[] = [];
      for (let hour = 1; hour <= 6; hour++) {
        const answer = await tick(hour);
        // The collector's failure decides the answer; notifications never do.
        expect(answer.status).toBe(hour === 5 ? 200 : 207);
        seen.push(hook.requests.length);
      }
      expect(flaky.requests.length - before).toBe(6);
      // Ticks 1 and 2: nothing; tick 3: the alert; tick 4: still one; tick 5 (success): the recovery;
      // tick 6 (a new failure): a streak of 1, nothing.
      expect(seen).toEqual([0, 0, 1, 1, 2, 2]);
      expect(hook.requests.map((r) => r.json)).toEqual([
        {
          event: 'collector_failing',
          collector: 'flaky',
          consecutive_failures: 3,
          threshold: 3,
          since: '2026-11-22T01:00:00.000Z',
          execution_id: expect.stringMatching(/^20261122T030000Z-/),
          error: expect.stringContaining('500'),
          error_type: 'HTTPError',
          report: expect.stringMatching(/reports\/2026\/11\/22\/20261122T030000Z-[0-9a-f]+\.json$/),
        },
        expect.objectContaining({
          event: 'collector_recovered',
          collector: 'flaky',
          consecutive_failures: 4,
          since: null,
          execution_id: expect.stringMatching(/^20261122T050000Z-/),
        }),
      ]);
      expect(hook.requests.every((r) => r.method === 'POST' && r.path === '/alerts')).toBe(true);
      // Slack hears the same two events, as incoming-webhook messages.
      expect(slack.requests.map((r) => (r.json as { text: string }).text)).toEqual([
        expect.stringMatching(/^:rotating_light: collector flaky failed 3 times in a row \(threshold 3\)/),
        expect.stringMatching(/^:white_check_mark: collector flaky recovered after 4 failures in a row/),
      ]);
      // And the structured log entries the deploy's alert policy matches on.
      const alerts = services.logs.filter((e) => e['alert']);
      expect(alerts.map((e) => [e.severity, e['alert'], e['logging.googleapis.com/labels']])).toEqual([
        ['ERROR', 'collector_failing', { [ALERT_LOG_LABEL]: 'collector_failing', collector: 'flaky' }],
        ['INFO', 'collector_recovered', { [ALERT_LOG_LABEL]: 'collector_recovered', collector: 'flaky' }],
      ]);
      // The Slack URL is a credential: it never reaches a log line.
      expect(JSON.stringify(services.logs)).not.toContain('XXXXSECRETXXXX');
    } finally {
      await services.close();
    }
  });

  it('a failing notification is logged and never fails the execution', async () => {
    const broken = await webhook(500);
    servers.push(broken);
    const { services, tick } = await rig(
      `alerts:\n  failure_threshold: 1\n  webhook: { url: "${broken.url}/hook" }\n  slack: { webhook_env: UNSET_SLACK_URL }\n`,
    );
    try {
      const answer = await tick(1);
      expect(answer.status).toBe(207);
      expect((answer.body as { report_storage_error?: string }).report_storage_error).toBeUndefined();
      expect(broken.requests).toHaveLength(1);
      const warnings = services.logs.filter((e) => e.severity === 'WARNING').map((e) => e.message);
      expect(warnings).toContainEqual(
        expect.stringMatching(
          /^alert not delivered to the alert webhook at http:\/\/127\.0\.0\.1:\d+\/…: HTTP 500/,
        ),
      );
      expect(warnings).toContainEqual(
        'alert not delivered to the Slack webhook: no Slack webhook URL in $UNSET_SLACK_URL',
      );
    } finally {
      await services.close();
    }
  });

  it('counts a streak once across instances: two executions finishing at once cross the threshold once', async () => {
    const state = await openStore(storage.uri(`case-${++n}/state`));
    const run = (i: number, failed = true) => ({
      collector: 'dvf',
      failed,
      executionId: `e${i}`,
      startTime: `2026-11-22T0${i}:00:00.000Z`,
      error: 'boom',
      errorType: 'HTTPError',
    });
    expect(await recordRun(state, run(1), 3)).toBeNull();
    expect(await recordRun(state, run(2), 3)).toBeNull();
    const both = await Promise.all([recordRun(state, run(3), 3), recordRun(state, run(4), 3)]);
    expect(both.filter((t) => t?.kind === 'failing')).toHaveLength(1);
    // The same execution counted twice (a retried hook) and an older one finishing late change nothing.
    expect(await recordRun(state, run(4), 3)).toBeNull();
    expect(await recordRun(state, run(1, false), 3)).toBeNull();
    // 4 failures, or 3 if e4 was counted before e3 (an older execution finishing later is not counted).
    const recovered = await recordRun(state, run(5, false), 3);
    expect(recovered).toMatchObject({ kind: 'recovered' });
    expect(recovered?.kind === 'recovered' && [3, 4].includes(recovered.failures)).toBe(true);
  });
});

describe('counting many collectors', () => {
  it('takes one read and one write of the streaks object, whatever the number of collectors', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'streaks-'));
    try {
      const state = countingStore(await openStore(path.join(dir, 'state')));
      const runs = (execution: string, start: string, failing: (i: number) => boolean) =>
        Array.from({ length: 500 }, (_, i) => ({
          collector: `c${i}`,
          failed: failing(i),
          executionId: execution,
          startTime: start,
          error: failing(i) ? 'boom' : null,
          errorType: failing(i) ? 'HTTPError' : null,
        }));
      const first = await recordRuns(
        state,
        runs('e1', '2026-11-22T01:00:00.000Z', (i) => i < 3),
        1,
      );
      expect([...first.keys()]).toEqual(['c0', 'c1', 'c2']);
      expect(state.gets).toEqual(['alerts/streaks.json']);
      expect(state.puts).toEqual(['alerts/streaks.json']);
      const second = await recordRuns(
        state,
        runs('e2', '2026-11-22T02:00:00.000Z', () => false),
        1,
      );
      expect([...second.values()].map((t) => t.kind)).toEqual(['recovered', 'recovered', 'recovered']);
      expect(state.gets).toHaveLength(2);
      expect(state.puts).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the streak transition', () => {
  const empty: Streak = {
    collector: 'x',
    consecutiveFailures: 0,
    since: null,
    notified: false,
    lastExecutionId: null,
    lastStart: null,
    lastError: null,
    lastErrorType: null,
  };
  const run = (failed: boolean, i: number) => ({
    collector: 'x',
    failed,
    executionId: `e${i}`,
    startTime: `2026-01-0${i}T00:00:00Z`,
    error: failed ? 'e' : null,
    errorType: null,
  });

  it('with threshold 1 alerts on the first failure, and a success without an alert is silent', () => {
    expect(step(empty, run(true, 1), 1).transition).toMatchObject({ kind: 'failing' });
    const afterOne = step(empty, run(true, 1), 2).next;
    expect(step(afterOne, run(false, 2), 2).transition).toBeNull();
  });
});

describe('the original `monitoring` section', () => {
  it('maps enable_alerts, alert_channels and failure_threshold onto alerts', () => {
    const config = parseConfig(
      `monitoring:\n  enable_alerts: true\n  alert_channels: [email, slack]\n  failure_threshold: 2\n  alert_email: data@example.com\ncollectors:\n  dvf: {}\n`,
      'legacy.yaml',
      {},
    );
    expect(config.alerts).toEqual({
      enabled: true,
      failureThreshold: 2,
      slack: { env: 'SLACK_WEBHOOK_URL' },
      webhook: null,
      email: ['data@example.com'],
      timeoutSeconds: 10,
    });
    const off = parseConfig('monitoring: { enable_alerts: false }\ncollectors: { dvf: {} }\n', 'l.yaml', {});
    expect(off.alerts!.enabled).toBe(false);
  });

  it('refuses an alerts section naming two sources for one URL, with the key path and line', () => {
    expect(() =>
      parseConfig(
        'collectors: { dvf: {} }\nalerts:\n  slack: { webhook_env: A, webhook_secret: projects/p/secrets/s/versions/1 }\n',
        'c.yaml',
        {},
      ),
    ).toThrow(/c\.yaml:3 alerts\.slack: needs exactly one of webhook_env or webhook_secret/);
  });
});
