import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { SkipRun } from '../../src/runtime/errors';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { describeRef } from '../../src/secrets/types';
import { putJson, readJson } from '../../src/store/types';
import { registerSecret } from '../../src/util/secrets';
import { Units } from '../units';
import { loginAuth, signedAuth } from './auth';
import { XmpClient, type EnvelopeRules } from './client';
import { addDays, reportDays } from './dates';
import { availableMetrics, unknownMetricsError, type FieldsReportType } from './fields';
import { accountLimiter } from './limiter';
import {
  credentialRefs,
  parseXmpOptions,
  type ConsoleOptions,
  type XmpOptions,
  type XmpReport,
} from './options';
import { pullConsoleReport, pullReport } from './reports';

/**
 * XMP (Mobvista) ad and creative reports for a window of days, as NDJSON per (report, day) at
 * `<raw>/xmp/<account>/<report>/<YYYY-MM-DD>.ndjson`, whichever job (xmp, xmp-daily) pulled it: a rerun
 * of a day overwrites its objects, the latest pull wins. Each (report, day) is a unit of work; one that
 * fails is recorded and pulled again by the next run (within a week), while the others go on.
 * Auth is the signed Open API, or (unconfirmed, off by default) the web console's login, whose token
 * all jobs of the account share through the token broker.
 */

export type { XmpOptions } from './options';

/** Failed days are tried again by later runs for this long. */
const PENDING_DAYS = 7;

interface Pending {
  days: Partial<Record<XmpReport, string[]>>;
}

/** One plug-in for every job of an account: a config entry with `collector: xmp` adds another (xmp-daily). */
export const xmp: Collector<XmpOptions> = {
  name: 'xmp',
  description: 'XMP (Mobvista) ad report, creative report and creative library per day, as NDJSON',
  parseOptions: parseXmpOptions,
  run: runXmp,
};

async function credentials(ctx: CollectorContext<XmpOptions>): Promise<{ id: string; secret: string }> {
  const options = ctx.options;
  const refs = credentialRefs(options);
  const [id, secret] = await Promise.all([ctx.secrets.get(refs.id), ctx.secrets.get(refs.secret)]);
  if (!id || !secret) {
    const missing = [!id ? describeRef(refs.id) : null, !secret ? describeRef(refs.secret) : null].filter(
      Boolean,
    );
    throw new SkipRun(
      'missing_credentials',
      options.auth === 'signed'
        ? `no XMP Open API credentials: set ${missing.join(' and ')} (client_id and client_secret from API Token Management in the XMP profile)`
        : `no XMP account login: set ${missing.join(' and ')} (a dedicated account: a person logging in with it invalidates the collectors' token)`,
    );
  }
  // Whatever the secret source, logs and run records scrub them.
  registerSecret(secret);
  return { id, secret };
}

function makeClient(
  ctx: CollectorContext<XmpOptions>,
  id: string,
  secret: string,
  onLogin: () => void,
): XmpClient {
  const options = ctx.options;
  const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
  const limiter = accountLimiter(ctx.clock, options.account, options.requests_per_minute);
  const rules: EnvelopeRules = {
    successCodes: options.success_codes,
    rateLimitCodes: options.rate_limit_codes,
    authErrorCodes: options.auth_error_codes,
  };
  if (options.auth === 'signed')
    return new XmpClient(
      upstream,
      options.base_url,
      signedAuth(id, secret, ctx.clock),
      limiter,
      rules,
      options.account,
    );
  const c = options.console as ConsoleOptions;
  const auth = loginAuth({
    upstream: { fetch: ctx.fetch, clock: ctx.clock, log: ctx.log },
    tokens: ctx.tokens,
    limiter,
    options,
    username: id,
    password: secret,
    onLogin,
  });
  return new XmpClient(
    upstream,
    c.api_base,
    auth,
    limiter,
    { ...rules, successCodes: c.success_codes },
    options.account,
  );
}

async function runXmp(ctx: CollectorContext<XmpOptions>): Promise<CollectorResult> {
  ctx.signal.throwIfAborted();
  const options = ctx.options;
  const { id, secret } = await credentials(ctx);
  let logins = 0;
  const client = makeClient(ctx, id, secret, () => logins++);
  const window = reportDays(options.mode, ctx.scheduledTime, options.timezone, options.realtime_days);
  const pending = (await readJson<Pending>(ctx.state, 'pending.json'))?.value ?? { days: {} };
  const oldest = addDays(window[0]!, -PENDING_DAYS);
  const units = new Units('report days', ctx);
  const counts: Record<string, Record<string, number>> = {};
  const stillPending: Pending = { days: {} };
  let records = 0;
  for (const report of options.reports) {
    counts[report] = {};
    const retried = (pending.days[report] ?? []).filter((d) => d >= oldest && !window.includes(d));
    const days = [...new Set([...retried, ...window])].sort();
    const refused = await metricProblem(ctx, client, report);
    for (const day of days) {
      const unit = `${report} ${day}`;
      let rows: number | undefined;
      if (refused) units.fail(unit, refused);
      else rows = await units.run(unit, () => pullDay(ctx, client, report, day));
      if (rows === undefined) (stillPending.days[report] ??= []).push(day);
      else {
        counts[report]![day] = rows;
        records += rows;
      }
    }
  }
  await putJson(ctx.state, 'pending.json', stillPending);
  ctx.log.info(`XMP ${options.mode} pull of ${window.join(', ')} done: ${records} rows`, {
    requests: client.requests,
  });
  return {
    records,
    summary: {
      account: options.account,
      mode: options.mode,
      auth: options.auth,
      timezone: options.timezone,
      currency: options.currency,
      days: window,
      rows: counts,
      requests: client.requests,
      ...(Object.keys(stillPending.days).length > 0 ? { pending: stillPending.days } : {}),
      ...(options.auth === 'login' ? { logins } : {}),
    },
    units: units.finish(),
  };
}

/** One report's day, written as NDJSON (even when empty, so a rerun replaces what an earlier pull left). */
async function pullDay(
  ctx: CollectorContext<XmpOptions>,
  client: XmpClient,
  report: XmpReport,
  day: string,
): Promise<number> {
  const rows =
    ctx.options.auth === 'login'
      ? await pullConsoleReport(client, day, ctx.options)
      : await pullReport(client, report, day, ctx.options);
  await ctx.output.write(
    `${ctx.options.account}/${report}/${day}.ndjson`,
    rows.map((r) => JSON.stringify(r) + '\n').join(''),
    {
      contentType: 'application/x-ndjson',
      records: rows.length,
    },
  );
  return rows.length;
}

/** Configured metrics XMP does not offer, as the error every day of that report fails with (or null). */
async function metricProblem(ctx: CollectorContext<XmpOptions>, client: XmpClient, report: XmpReport) {
  const reportType: FieldsReportType | null =
    report === 'ad_report' ? 'ad' : report === 'creative_report' ? 'material' : null;
  if (!reportType || !ctx.options.check_metrics || ctx.options.auth !== 'signed') return null;
  const available = await availableMetrics(
    {
      client,
      state: ctx.state,
      clock: ctx.clock,
      log: ctx.log,
      signal: ctx.signal,
      account: ctx.options.account,
    },
    reportType,
  );
  if (!available) return null;
  return report === 'ad_report'
    ? unknownMetricsError('metrics', 'ad', ctx.options.metrics, available)
    : unknownMetricsError('creative_metrics', 'material', ctx.options.creative_metrics, available);
}
