import type { HeaderProvider } from '../../src/auth/types';
import { HttpDispatcher } from '../../src/dispatch/http-dispatcher';
import { createNodeTransport, type HttpTransport } from '../../src/dispatch/transport';
import { timeoutSignal } from '../../src/util/clock';
import type { CollectorOutcome, DispatchTarget, ProgressEvent } from '../../src/dispatch/types';
import { collectorServer, type Behaviour } from '../support/collector-servers';
import { FakeClock } from '../support/fake-clock';
import { startServer, json, type TestServer } from '../support/http';
import { selfSignedServer, UNRESOLVABLE_HOST } from '../support/network-failures';
import { until } from '../support/wait';

const servers: TestServer[] = [];
const transports: HttpTransport[] = [];
afterEach(async () => {
  transports.splice(0).forEach((t) => t.close());
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(...behaviours: Behaviour[]): Promise<TestServer> {
  const s = await collectorServer(...behaviours);
  servers.push(s);
  return s;
}

function target(name: string, url: string, overrides: Partial<DispatchTarget> = {}): DispatchTarget {
  return {
    name,
    url: `${url}/collectors/${name}`,
    payload: {
      executionId: '20261122T140000Z-aaaaaaaa',
      collector: name,
      scheduledTime: '2026-11-22T14:00:00.000Z',
      attempt: 1,
    },
    timeoutMs: 60_000,
    retry: { attempts: 3, minBackoffSeconds: 1, maxBackoffSeconds: 30 },
    group: null,
    groupWaitMs: 0,
    queue: null,
    ...overrides,
  };
}

function dispatcher(
  clock: FakeClock,
  overrides: Partial<ConstructorParameters<typeof HttpDispatcher>[0]> = {},
) {
  const transport = createNodeTransport(clock, 50);
  transports.push(transport);
  return new HttpDispatcher({
    transport,
    clock,
    auth: { headersFor: async () => ({}) },
    maxConcurrent: 10,
    maxResponseBytes: 1024 * 1024,
    // Full jitter picks the middle of each backoff window, so waits are exact.
    random: () => 0.5,
    ...overrides,
  });
}

const deadline = () => new AbortController().signal;

async function one(clock: FakeClock, t: DispatchTarget, d = dispatcher(clock)): Promise<CollectorOutcome> {
  const [outcome] = await d.dispatch([t], { signal: deadline() });
  return outcome!;
}

describe('HTTP dispatch of one collector', () => {
  it('posts the dispatch payload and records success with the JSON summary', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'ok', result: { records: 12 } });
    const outcome = await one(clock, target('dvf', s.url));
    expect(outcome).toMatchObject({
      name: 'dvf',
      status: 'success',
      httpStatus: 200,
      attempts: 1,
      error: null,
      result: { records: 12 },
    });
    expect(s.requests[0]!.method).toBe('POST');
    expect(s.requests[0]!.headers['content-type']).toBe('application/json');
    expect(s.requests[0]!.json).toEqual({
      executionId: '20261122T140000Z-aaaaaaaa',
      collector: 'dvf',
      scheduledTime: '2026-11-22T14:00:00.000Z',
      attempt: 1,
    });
  });

  it('retries a 500 with exponential full-jitter backoff, then fails with every attempt counted', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'status', status: 500 });
    const outcome = await one(clock, target('dvf', s.url));
    expect(outcome).toMatchObject({ status: 'failed', httpStatus: 500, attempts: 3, errorType: 'HTTPError' });
    expect(outcome.error).toMatch(/^POST http:\/\/127\.0\.0\.1:\d+\/collectors\/dvf answered 500/);
    // random 0.5 × min(30 s, 1 s × 2^(n-1)): 0.5 s after the first failure, 1 s after the second.
    expect(clock.sleeps).toEqual([500, 1000]);
    expect(outcome.endMs! - outcome.startMs!).toBe(1500);
    expect(s.requests.map((r) => (r.json as { attempt: number }).attempt)).toEqual([1, 2, 3]);
  });

  it('honours Retry-After in seconds on a 429', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'status', status: 429, headers: { 'retry-after': '7' } }, { kind: 'ok' });
    const outcome = await one(clock, target('sirene', s.url));
    expect(outcome).toMatchObject({ status: 'success', attempts: 2 });
    expect(clock.sleeps).toEqual([7000]);
    expect(outcome.endMs! - outcome.startMs!).toBe(7000);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z');
    const s = await serve(
      { kind: 'status', status: 503, headers: { 'retry-after': 'Sun, 22 Nov 2026 14:00:12 GMT' } },
      { kind: 'ok' },
    );
    const outcome = await one(clock, target('plu', s.url));
    expect(outcome).toMatchObject({ status: 'success', attempts: 2 });
    expect(clock.sleeps).toEqual([12_000]);
  });

  it.each([400, 401, 403, 404, 422])('does not retry a %i', async (status) => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'status', status });
    const outcome = await one(clock, target('dvf', s.url));
    expect(outcome).toMatchObject({
      status: 'failed',
      httpStatus: status,
      attempts: 1,
      errorType: 'HTTPError',
    });
    expect(s.requests).toHaveLength(1);
  });

  it('retries 408', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'status', status: 408 }, { kind: 'ok' });
    expect(await one(clock, target('dvf', s.url))).toMatchObject({ status: 'success', attempts: 2 });
  });

  it('times out a collector that never answers, at its timeout', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'hang' });
    const pending = one(clock, target('xmp', s.url, { timeoutMs: 10_000 }));
    await s.waitForRequests(1);
    clock.advance(10_000);
    const outcome = await pending;
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'Timeout', attempts: 1, httpStatus: null });
    expect(outcome.error).toMatch(/no answer within timeout_seconds \(10 s\)/);
    expect(outcome.endMs! - outcome.startMs!).toBe(10_000);
    // A timed-out run is not retried: it may still be working.
    expect(s.requests).toHaveLength(1);
  });

  it('retries a connection reset, and fails with ConnectionResetError when it persists', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'reset' });
    const outcome = await one(clock, target('dvf', s.url));
    expect(outcome).toMatchObject({
      status: 'failed',
      errorType: 'ConnectionResetError',
      attempts: 3,
      httpStatus: null,
    });
    expect(outcome.error).toMatch(
      /^connection reset \(ECONNRESET\): POST http:\/\/127\.0\.0\.1:\d+\/collectors\/dvf$/,
    );
  });

  it('recovers from one reset', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'reset' }, { kind: 'ok' });
    expect(await one(clock, target('dvf', s.url))).toMatchObject({ status: 'success', attempts: 2 });
  });

  it('retries a refused connection', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'ok' });
    const url = s.url;
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    const outcome = await one(clock, target('dvf', url));
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'ConnectionRefusedError', attempts: 3 });
    expect(outcome.error).toMatch(
      /^connection refused \(ECONNREFUSED\): POST http:\/\/127\.0\.0\.1:\d+\/collectors\/dvf$/,
    );
  });

  it('does not retry a host that does not resolve, and says so', async () => {
    const clock = new FakeClock();
    const outcome = await one(clock, target('dvf', `http://${UNRESOLVABLE_HOST}`));
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'NameResolutionError', attempts: 1 });
    expect(outcome.error).toBe(
      `could not resolve host ${UNRESOLVABLE_HOST} (ENOTFOUND): POST http://${UNRESOLVABLE_HOST}/collectors/dvf`,
    );
    expect(clock.sleeps).toEqual([]);
  });

  it('does not retry a certificate it cannot trust', async () => {
    const clock = new FakeClock();
    const tls = await selfSignedServer();
    try {
      const outcome = await one(clock, target('dvf', tls.url));
      expect(outcome).toMatchObject({ status: 'failed', errorType: 'SSLError', attempts: 1 });
      expect(outcome.error).toMatch(
        /^TLS failed: self[- ]signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\): POST https:\/\/127\.0\.0\.1:\d+\/collectors\/dvf$/,
      );
    } finally {
      await tls.close();
    }
  });

  it('reports a 200 that is HTML as an invalid response, without retrying', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'html' });
    const outcome = await one(clock, target('dvf', s.url));
    expect(outcome).toMatchObject({
      status: 'failed',
      httpStatus: 200,
      errorType: 'InvalidResponse',
      attempts: 1,
    });
    expect(outcome.error).toMatch(/answered 200 with text\/html, not JSON: "<html><body>Sign in to continue/);
  });

  it.each([true, false])(
    'stops reading a 2 GB body at the bound (Content-Length declared: %s)',
    async (declared) => {
      const clock = new FakeClock();
      const s = await serve({ kind: 'huge', declared });
      const outcome = await one(
        clock,
        target('dvf', s.url),
        dispatcher(clock, { maxResponseBytes: 256 * 1024 }),
      );
      expect(outcome).toMatchObject({
        status: 'failed',
        httpStatus: 200,
        errorType: 'ResponseTooLarge',
        attempts: 1,
      });
      expect(outcome.error).toMatch(/with a body over 262144 bytes \(scheduler\.max_response_bytes\)/);
    },
  );

  it('treats a 2xx carrying a failed run record as a permanent failure', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'run', status: 'failed', error: 'GET https://upstream/x answered 404' });
    const outcome = await one(clock, target('dvf', s.url));
    expect(outcome).toMatchObject({
      status: 'failed',
      httpStatus: 200,
      attempts: 1,
      error: 'GET https://upstream/x answered 404',
    });
    expect(s.requests).toHaveLength(1);
  });

  it('reports a skipped run record as skipped with its reason', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'run', status: 'skipped', reason: 'missing_credentials' });
    expect(await one(clock, target('sirene', s.url))).toMatchObject({
      status: 'skipped',
      reason: 'missing_credentials',
      attempts: 1,
    });
  });

  it('uses the run record error of a 503 in its message and retries it', async () => {
    const clock = new FakeClock();
    const s = await serve(
      { kind: 'run', status: 'failed', httpStatus: 503, error: 'upstream reset' },
      { kind: 'run', status: 'success' },
    );
    const outcome = await one(clock, target('dvf', s.url));
    expect(outcome).toMatchObject({ status: 'success', attempts: 2, result: { records: 3 } });
  });

  it('sends the auth headers for the target and reports an auth failure without calling', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'ok' });
    const seen: string[] = [];
    const auth: HeaderProvider = {
      headersFor: async (url) => {
        seen.push(url);
        return { authorization: 'Bearer abc' };
      },
    };
    await one(clock, target('dvf', s.url), dispatcher(clock, { auth }));
    expect(seen).toEqual([`${s.url}/collectors/dvf`]);
    expect(s.requests[0]!.headers.authorization).toBe('Bearer abc');

    const failing: HeaderProvider = {
      headersFor: async () => {
        throw new Error('no Google credentials');
      },
    };
    const outcome = await one(clock, target('dvf', s.url), dispatcher(clock, { auth: failing }));
    expect(outcome).toMatchObject({
      status: 'failed',
      errorType: 'AuthError',
      error: 'no Google credentials',
      attempts: 1,
    });
    expect(s.requests).toHaveLength(1);
  });
});

describe('HTTP fan-out', () => {
  it('isolates failures: a hang, a reset, garbage and a 500 never delay or fail the others', async () => {
    const clock = new FakeClock();
    const ok = await serve({ kind: 'ok', result: { records: 1 } });
    const hang = await serve({ kind: 'hang' });
    const reset = await serve({ kind: 'reset' });
    const html = await serve({ kind: 'html' });
    const fail = await serve({ kind: 'status', status: 500 });
    const slow = await serve({ kind: 'slow', ms: 150 });
    const events: ProgressEvent[] = [];
    const pending = dispatcher(clock).dispatch(
      [
        target('ok', ok.url),
        target('hang', hang.url),
        target('reset', reset.url),
        target('html', html.url),
        target('fail', fail.url),
        target('slow', slow.url),
      ],
      {
        signal: deadline(),
        onProgress: (e) => {
          events.push(e);
          if (e.type === 'finish' && e.outcome.name === 'ok') throw new Error('a listener that throws');
        },
      },
    );
    // Everything but the hung collector finishes while it is still hanging.
    const finished = () => events.filter((e) => e.type === 'finish').length;
    await until(() => finished() >= 5);
    expect(events.some((e) => e.type === 'finish' && e.outcome.name === 'hang')).toBe(false);
    clock.advance(60_000);
    const outcomes = Object.fromEntries((await pending).map((o) => [o.name, o]));
    expect(outcomes['ok']).toMatchObject({ status: 'success', result: { records: 1 } });
    expect(outcomes['slow']).toMatchObject({ status: 'success' });
    expect(outcomes['hang']).toMatchObject({ status: 'failed', errorType: 'Timeout' });
    expect(outcomes['reset']).toMatchObject({
      status: 'failed',
      errorType: 'ConnectionResetError',
      attempts: 3,
    });
    expect(outcomes['html']).toMatchObject({ status: 'failed', errorType: 'InvalidResponse' });
    expect(outcomes['fail']).toMatchObject({ status: 'failed', errorType: 'HTTPError', attempts: 3 });
  });

  it('never has more than max_concurrent_collectors requests in flight', async () => {
    const clock = new FakeClock();
    let inFlight = 0;
    let peak = 0;
    let received = 0;
    let held: (() => void)[] = [];
    // Requests are held until three are in flight (or the last ones arrived), then answered a little
    // later: a limiter letting more through would show a higher peak in that window.
    const s = await startServer((_req, res) => {
      inFlight++;
      received++;
      peak = Math.max(peak, inFlight);
      held.push(() => {
        inFlight--;
        json(res, 200, { ok: true });
      });
      if (held.length === 3 || received === 20) {
        const batch = held;
        held = [];
        setTimeout(() => batch.forEach((release) => release()), 20);
      }
    });
    servers.push(s);
    const targets = Array.from({ length: 20 }, (_, i) => target(`c${i}`, s.url));
    const outcomes = await dispatcher(clock, { maxConcurrent: 3 }).dispatch(targets, { signal: deadline() });
    expect(outcomes.every((o) => o.status === 'success')).toBe(true);
    expect(s.requests).toHaveLength(20);
    expect(peak).toBe(3);
  });

  it('at the deadline aborts what still runs and marks what never started, all as timed out', async () => {
    const clock = new FakeClock();
    const ok = await serve({ kind: 'ok' });
    const hang = await serve({ kind: 'hang' });
    const deadlineTimer = timeoutSignal(clock, 120_000, new Error('execution deadline of 120 s reached'));
    const finished: string[] = [];
    const pending = dispatcher(clock, { maxConcurrent: 2 }).dispatch(
      [target('ok', ok.url), target('hang', hang.url, { timeoutMs: 300_000 }), target('queued', ok.url)],
      {
        signal: deadlineTimer.signal,
        onProgress: (e) => e.type === 'finish' && finished.push(e.outcome.name),
      },
    );
    await hang.waitForRequests(1);
    // 'queued' takes the slot 'ok' frees; the hung one keeps its slot.
    await until(() => finished.length >= 2);
    expect(finished).toEqual(['ok', 'queued']);
    clock.advance(120_000);
    const outcomes = Object.fromEntries((await pending).map((o) => [o.name, o]));
    expect(outcomes['ok']).toMatchObject({ status: 'success' });
    expect(outcomes['queued']).toMatchObject({ status: 'success' });
    expect(outcomes['hang']).toMatchObject({
      status: 'failed',
      errorType: 'Timeout',
      error: 'execution deadline of 120 s reached',
      attempts: 1,
    });
    expect(outcomes['hang']!.endMs! - outcomes['hang']!.startMs!).toBe(120_000);
  });

  it('marks collectors that never got a slot before the deadline as timed out with no attempt', async () => {
    const clock = new FakeClock();
    const hang = await serve({ kind: 'hang' });
    const deadlineTimer = timeoutSignal(clock, 60_000, new Error('execution deadline of 60 s reached'));
    const pending = dispatcher(clock, { maxConcurrent: 1 }).dispatch(
      [target('hang', hang.url, { timeoutMs: 300_000 }), target('waiting', hang.url)],
      {
        signal: deadlineTimer.signal,
      },
    );
    await hang.waitForRequests(1);
    clock.advance(60_000);
    const outcomes = Object.fromEntries((await pending).map((o) => [o.name, o]));
    expect(outcomes['waiting']).toMatchObject({
      status: 'failed',
      errorType: 'Timeout',
      attempts: 0,
      startMs: null,
    });
    expect(hang.requests).toHaveLength(1);
  });

  it('stops retrying when the deadline falls during a backoff wait', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const s = await serve({ kind: 'status', status: 503, headers: { 'retry-after': '20' } });
    // Without deadlineAtMs the dispatcher cannot see the deadline coming: the signal cuts the wait.
    const deadlineTimer = timeoutSignal(clock, 10_000, new Error('execution deadline of 10 s reached'));
    const pending = dispatcher(clock).dispatch([target('dvf', s.url)], { signal: deadlineTimer.signal });
    await s.waitForRequests(1);
    await until(() => clock.sleeps.length > 0);
    clock.advance(10_000);
    const [outcome] = await pending;
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'Timeout', attempts: 1 });
    expect(s.requests).toHaveLength(1);
  });

  it('gives the slot back during a wait: at concurrency 1, a collector told to come back later lets the others run', async () => {
    const clock = new FakeClock('2026-11-22T14:00:00Z', false);
    const limited = await serve(
      { kind: 'status', status: 429, headers: { 'retry-after': '20' } },
      { kind: 'ok' },
    );
    const healthy = await serve({ kind: 'ok', result: { records: 5 } });
    const finished: string[] = [];
    const pending = dispatcher(clock, { maxConcurrent: 1 }).dispatch(
      [target('limited', limited.url), target('healthy', healthy.url)],
      { signal: deadline(), onProgress: (e) => e.type === 'finish' && finished.push(e.outcome.name) },
    );
    // The healthy collector runs while the limited one waits out its Retry-After: no time passes.
    await until(() => finished.includes('healthy'), 'the healthy collector finished');
    expect(finished).toEqual(['healthy']);
    expect(clock.sleeps).toEqual([20_000]);
    clock.advance(20_000);
    const outcomes = Object.fromEntries((await pending).map((o) => [o.name, o]));
    expect(outcomes['healthy']).toMatchObject({ status: 'success', attempts: 1, result: { records: 5 } });
    expect(outcomes['limited']).toMatchObject({ status: 'success', attempts: 2 });
  });

  it('ends at once, failed with its status and the wait it asked for, when Retry-After exceeds retry.max_backoff_seconds', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });
    const [outcome] = await dispatcher(clock).dispatch([target('sirene', s.url)], {
      signal: deadline(),
      deadlineAtMs: clock.now() + 500_000,
    });
    expect(outcome).toMatchObject({
      status: 'failed',
      httpStatus: 429,
      errorType: 'HTTPError',
      attempts: 1,
      extra: { retry_after_seconds: 3600 },
    });
    expect(outcome!.error).toMatch(
      /answered 429: .*; asked to retry after 3600 s \(Retry-After\), longer than retry\.max_backoff_seconds \(30 s\); not retried$/,
    );
    expect(clock.sleeps).toEqual([]);
    expect(outcome!.endMs).toBe(outcome!.startMs);
  });

  it('does not wait for a Retry-After that ends past the execution deadline', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'status', status: 503, headers: { 'retry-after': '25' } });
    const [outcome] = await dispatcher(clock).dispatch([target('plu', s.url)], {
      signal: deadline(),
      deadlineAtMs: clock.now() + 20_000,
    });
    expect(outcome).toMatchObject({ status: 'failed', httpStatus: 503, attempts: 1, errorType: 'HTTPError' });
    expect(outcome!.error).toMatch(
      /; asked to retry after 25 s \(Retry-After\), with 20 s left before the execution deadline; not retried$/,
    );
    expect(clock.sleeps).toEqual([]);
  });

  it('does not begin a backoff that ends past the execution deadline', async () => {
    const clock = new FakeClock();
    const s = await serve({ kind: 'status', status: 502 });
    // random 0.5: waits of 0.5 s, then 1 s; only 0.9 s are left after the first wait.
    const [outcome] = await dispatcher(clock).dispatch([target('dvf', s.url)], {
      signal: deadline(),
      deadlineAtMs: clock.now() + 1_400,
    });
    expect(outcome).toMatchObject({ status: 'failed', httpStatus: 502, attempts: 2, errorType: 'HTTPError' });
    expect(outcome!.error).toMatch(
      /; no time for another attempt \(0\.9 s left before the execution deadline\)$/,
    );
    expect(clock.sleeps).toEqual([500]);
  });
});
