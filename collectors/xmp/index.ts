import type { Collector, CollectorContext, CollectorResult } from '../../src/runtime/contract';
import { SkipRun } from '../../src/runtime/errors';
import type { UpstreamDeps } from '../../src/runtime/upstream';
import { describeRef } from '../../src/secrets/types';
import { registerSecret } from '../../src/util/secrets';
import { loginAuth, signedAuth, type XmpAuth } from './auth';
import { XmpClient } from './client';
import { reportDays } from './dates';
import { accountLimiter } from './limiter';
import { credentialRefs, parseXmpOptions, type XmpOptions } from './options';
import { pullReport } from './reports';

/**
 * XMP (Mobvista) ad and creative reports for a window of days, as NDJSON per (report, day) at
 * `<raw>/xmp/<account>/<report>/<YYYY-MM-DD>.ndjson`, whichever job (xmp, xmp-daily) pulled it: a rerun
 * of a day overwrites its objects, the latest pull wins.
 * Auth is the signed Open API, or an account login whose token all jobs of the account share through
 * the token broker (a new login invalidates every earlier token of the account).
 */

export type { XmpOptions } from './options';

/** One plug-in for every job of an account: a config entry with `collector: xmp` adds another (xmp-daily). */
export const xmp: Collector<XmpOptions> = {
  name: 'xmp',
  description: 'XMP (Mobvista) ad report, creative report and creative library per day, as NDJSON',
  parseOptions: parseXmpOptions,
  run: runXmp,
};

async function runXmp(ctx: CollectorContext<XmpOptions>): Promise<CollectorResult> {
  ctx.signal.throwIfAborted();
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

  const upstream: UpstreamDeps = { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, log: ctx.log };
  const limiter = accountLimiter(ctx.clock, options.account, options.requests_per_minute);
  let logins = 0;
  const auth: XmpAuth =
    options.auth === 'signed'
      ? signedAuth(id, secret, ctx.clock)
      : loginAuth({
          upstream: { fetch: ctx.fetch, clock: ctx.clock, log: ctx.log },
          tokens: ctx.tokens,
          limiter,
          options,
          username: id,
          password: secret,
          onLogin: () => logins++,
        });
  const client = new XmpClient(
    upstream,
    options.base_url,
    auth,
    limiter,
    options.token_error_codes,
    options.account,
  );

  const days = reportDays(options.mode, ctx.scheduledTime, options.timezone, options.realtime_days);
  const counts: Record<string, Record<string, number>> = {};
  let records = 0;
  for (const report of options.reports) {
    counts[report] = {};
    for (const day of days) {
      const rows = await pullReport(client, report, day, options);
      // Written even when empty, so a rerun replaces whatever an earlier pull of that day left.
      await ctx.output.write(
        `${options.account}/${report}/${day}.ndjson`,
        rows.map((r) => JSON.stringify(r) + '\n').join(''),
        {
          contentType: 'application/x-ndjson',
          records: rows.length,
        },
      );
      counts[report]![day] = rows.length;
      records += rows.length;
    }
  }
  ctx.log.info(`XMP ${options.mode} pull of ${days.join(', ')} done: ${records} rows`, {
    requests: client.requests,
  });
  return {
    records,
    summary: {
      account: options.account,
      mode: options.mode,
      auth: options.auth,
      timezone: options.timezone,
      days,
      rows: counts,
      requests: client.requests,
      ...(options.auth === 'login' ? { logins } : {}),
    },
  };
}
