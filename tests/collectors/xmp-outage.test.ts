import { execute } from '../../src/execution/execute';
import { makeTrigger } from '../../src/execution/trigger';
import type { ExecutionReport } from '../../src/report/report';
import { readJson } from '../../src/store/types';
import type { TokenRecord } from '../../src/token/record';
import { FakeClock } from '../support/fake-clock';
import { testServices } from '../support/services';
import { tempDirs } from '../support/temp';
import { startXmpUpstream, type XmpUpstream } from '../support/upstreams/xmp';

/**
 * The outage, replayed through the scheduler: XMP jobs of one account, every 30 min, every 6 h and
 * daily, over a simulated day of Cloud Scheduler ticks, against an XMP where every login invalidates
 * the account's earlier tokens. Before the broker, each run logged in and killed the token of any run
 * still going; now the day must see no request with a killed token, and a handful of logins.
 */

const USERNAME = 'collector@example.com';
const PASSWORD = 'xmp-outage-password-31d0';
const HOUR = 3_600_000;
const TOKEN_LIFETIME_HOURS = 6;
/** 00:00 Europe/Paris on 22 Nov 2026. */
const DAY_START = Date.parse('2026-11-21T23:00:00Z');

const temp = tempDirs();
let up: XmpUpstream | null = null;
afterEach(async () => {
  await up?.close();
  up = null;
  temp.cleanup();
});

function config(server: XmpUpstream, grouped: boolean): string {
  const common = [
    'auth: login',
    'account: main',
    `console: { login_url: "${server.loginUrl}", api_base: "${server.consoleBase}", token_lifetime_seconds: ${TOKEN_LIFETIME_HOURS * 3600} }`,
    'timezone: Asia/Shanghai',
    'page_size: 5',
  ].join(', ');
  const group = grouped ? 'group: xmp-account, group_wait_seconds: 400, ' : '';
  return `
timezone: Europe/Paris
scheduler: { max_concurrent_collectors: 4, deadline_seconds: 500 }
collectors:
  xmp: { schedule: "*/30 * * * *", ${group}options: { ${common} } }
  xmp-6h: { collector: xmp, schedule: "0 */6 * * *", ${group}options: { ${common}, realtime_days: 3 } }
  xmp-daily: { collector: xmp, schedule: "0 1 * * *", ${group}options: { ${common}, mode: daily } }
`;
}

const tick = (tickMs: number) => makeTrigger('cloud-scheduler', { tickMs, jobName: 'scheduler-tick' });

describe('the XMP outage scenario over a simulated day', () => {
  it.each([
    ['in one credential group (never side by side)', true],
    ['without a group, runs overlapping at the shared ticks', false],
  ])(
    '%s: no request ever carries a killed token',
    async (_label, grouped) => {
      const clock = new FakeClock(DAY_START);
      up = await startXmpUpstream({
        username: USERNAME,
        password: PASSWORD,
        clock,
        tokenTtlMs: TOKEN_LIFETIME_HOURS * HOUR,
        requestsPerMinute: 10,
      });
      const services = await testServices(config(up, grouped), temp.make('xmp-outage'), {
        clock,
        env: { XMP_USERNAME: USERNAME, XMP_PASSWORD: PASSWORD },
        // The fake clock jumps a whole rate-limit wait (up to a minute) at once, with no I/O in between,
        // as a frozen process would: a group lease renewed every 20 s would be given up as lost. A real
        // minute lets renewals land; a lease longer than any one wait models that.
        leaseTtlMs: 10 * 60_000,
      });
      const reports: ExecutionReport[] = [];
      try {
        for (let at = DAY_START; at < DAY_START + 24 * HOUR; at += 30 * 60_000) {
          // Runs take a few minutes of the fake clock (the 10-a-minute budget); the next tick is later.
          expect(clock.now()).toBeLessThan(at + 60_000);
          if (clock.now() < at) clock.advance(at - clock.now());
          reports.push((await execute(services, tick(at))).report);
        }
      } finally {
        await services.close();
      }

      const runs = (name: string) => reports.filter((r) => r.collectors[name]);
      expect(runs('xmp')).toHaveLength(48);
      expect(runs('xmp-6h')).toHaveLength(4);
      expect(runs('xmp-daily')).toHaveLength(1);
      const failures = reports.flatMap((r) =>
        Object.entries(r.collectors)
          .filter(([, c]) => c.status !== 'success')
          .map(([name, c]) => `${r.trigger.scheduled_time} ${name}: ${c.status} ${c.error}`),
      );
      expect(failures).toEqual([]);

      expect(up.staleTokenRequests).toBe(0);
      expect(up.expiredTokenRequests).toBe(0);
      expect(up.rejectedRequests).toBe(0);
      expect(up.rateLimited).toBe(0);
      // One login per token lifetime (00:00, 06:00, 12:00, 18:00), where each run used to log in (53).
      expect(up.logins).toBe(4);
      const stored = await readJson<TokenRecord>(services.stores.state, 'tokens/main.json');
      expect(stored?.value).toMatchObject({ logins: 4, invalidated_at: null, token: up.currentToken() });
    },
    120_000,
  );
});
