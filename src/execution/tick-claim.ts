import { createHash } from 'node:crypto';
import { errorMessage, SchedulerError } from '../errors';
import { isPreconditionFailed, putJson, readJson, type ObjectStore } from '../store/types';
import { untilAborted } from '../util/abort';
import { isoTime, timeoutSignal, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { Selection, Trigger } from './trigger';

/**
 * How long claiming a tick may take. Past it the tick is answered 503 and nothing is dispatched, so
 * Cloud Scheduler retries it, rather than waiting out the store's own retries (30 s) while its
 * attempt deadline runs.
 * @default 5_000
 */
export const CLAIM_BUDGET_MS = 5_000;

export const CLAIM_STATUSES = ['claimed', 'done', 'cancelled'] as const;
export type ClaimStatus = (typeof CLAIM_STATUSES)[number];

/** The object `<state>/ticks/YYYY-MM-DD/<hash>.json`: who runs a tick, and how far it got. */
export interface TickClaimRecord {
  key: string;
  executionId: string;
  status: ClaimStatus;
  claimedAt: string;
  /**
   * Past this, a claim still `claimed` whose execution wrote no report is dead (its instance was
   * killed): the next delivery takes it over. Its claim time plus the deadline and the report budget.
   */
  deadAfter: string;
  finishedAt?: string;
  /** The dead or cancelled execution this claim took over from. */
  takenOverFrom?: string;
}

/** A second trigger of a tick that is running or ran. */
export class DuplicateTriggerError extends SchedulerError {
  constructor(
    readonly firstExecutionId: string,
    tick: string,
    running: boolean,
  ) {
    super(
      'DUPLICATE_TRIGGER',
      `the tick ${tick} was already triggered: execution ${firstExecutionId} ${running ? 'is running it' : 'ran it'}; nothing was dispatched (send "force": true, or scheduler run --force, to run it again)`,
      { details: { execution_id: firstExecutionId, running } },
    );
    this.name = 'DuplicateTriggerError';
  }
}

/** The state store did not take the claim in time, or failed: answered 503 so the tick is retried. */
export class ClaimUnavailableError extends SchedulerError {
  constructor(tick: string, why: string, cause?: unknown) {
    super(
      'STORE_UNAVAILABLE',
      `the claim of tick ${tick} could not be recorded in the state store (${why}); nothing was dispatched. Cloud Scheduler retries the tick; a manual trigger (no tick) still runs`,
      { cause },
    );
    this.name = 'ClaimUnavailableError';
  }
}

export interface TickClaim {
  readonly objectKey: string;
  /** The execution dispatched nothing: give the tick back, so that a retry runs it. */
  release(): Promise<void>;
  /** The execution ended (`done`), or a signal stopped it (`cancelled`: a retry may take it over). */
  finish(status: 'done' | 'cancelled'): Promise<void>;
}

export interface ClaimDeps {
  state: ObjectStore;
  clock: Clock;
  logger: Logger;
  /** Whether an execution wrote its report (a claim past its time but with a report is not dead). */
  hasReport(executionId: string): Promise<boolean>;
}

/**
 * Cloud Scheduler delivers at least once, and retries: one delivery of a tick runs it. The tick's key
 * is its time plus the job's name (and the collectors it names, if any); a claim object created only
 * if absent decides, and moves from `claimed` to `done`. A delivery finding the claim `claimed` (and
 * alive) or `done` gets DuplicateTriggerError (409). A claim that is dead (past `deadAfter`, no
 * report) or `cancelled` is taken over by compare-and-swap on its generation, so of two deliveries
 * racing for it exactly one wins. Manual triggers have no tick and claim nothing.
 *
 * `lifetimeMs` is how long the execution may take, report included (deadline + report budget).
 */
export async function claimTick(
  deps: ClaimDeps,
  trigger: Trigger,
  selection: Selection,
  executionId: string,
  lifetimeMs: number,
): Promise<TickClaim | null> {
  if (trigger.tickMs === null) return null;
  const tick = new Date(selection.scheduledTimeMs).toISOString();
  const { key, objectKey } = tickClaimKey(tick, trigger.jobName, trigger.collectors);
  const nowMs = deps.clock.now();
  const record: TickClaimRecord = {
    key,
    executionId,
    status: 'claimed',
    claimedAt: isoTime(nowMs),
    deadAfter: isoTime(nowMs + CLAIM_BUDGET_MS + lifetimeMs),
  };

  let abandoned = false;
  const work = claimOnce(deps, objectKey, record, tick, trigger.force).then((claim) => {
    // Answered 503 already: a claim that landed late is given back at once.
    if (abandoned) void claim.release();
    return claim;
  });
  const budget = timeoutSignal(
    deps.clock,
    CLAIM_BUDGET_MS,
    new ClaimUnavailableError(tick, `no answer within ${CLAIM_BUDGET_MS / 1000} s`),
  );
  try {
    return await untilAborted(work, budget.signal);
  } catch (error) {
    if (budget.signal.aborted) {
      abandoned = true;
      work.catch(() => undefined);
      throw budget.signal.reason;
    }
    if (error instanceof DuplicateTriggerError || error instanceof ClaimUnavailableError) throw error;
    throw new ClaimUnavailableError(tick, errorMessage(error), error);
  } finally {
    budget.clear();
  }
}

/** A tick's claim: its key (time, job, explicit collectors) and the object holding it. */
export function tickClaimKey(
  tick: string,
  jobName: string | null,
  collectors: readonly string[] | null,
): { key: string; objectKey: string } {
  const key = [tick, jobName ?? '', collectors ? [...collectors].sort().join(',') : '*'].join('|');
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 32);
  return { key, objectKey: `ticks/${tick.slice(0, 10)}/${hash}.json` };
}

async function claimOnce(
  deps: ClaimDeps,
  objectKey: string,
  record: TickClaimRecord,
  tick: string,
  force: boolean,
): Promise<TickClaim> {
  const { state, clock, logger } = deps;
  for (let tries = 0; tries < 5; tries++) {
    try {
      const written = await putJson(state, objectKey, record, { ifGenerationMatch: 0 });
      return held(deps, objectKey, record, written.generation);
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
    }
    const current = await readJson<TickClaimRecord>(state, objectKey);
    if (!current) continue; // given back in between: create it again
    const first = current.value;
    const dead = first.status === 'claimed' && clock.now() > Date.parse(first.deadAfter);
    const takeOver =
      force || first.status === 'cancelled' || (dead && !(await deps.hasReport(first.executionId)));
    if (!takeOver) throw new DuplicateTriggerError(first.executionId, tick, first.status === 'claimed');
    const next = { ...record, takenOverFrom: first.executionId };
    try {
      const written = await putJson(state, objectKey, next, { ifGenerationMatch: current.generation });
      if (!force) {
        logger.warn(
          `tick ${tick}: claim taken over from execution ${first.executionId} (${first.status === 'cancelled' ? 'cancelled by a signal' : `claimed at ${first.claimedAt}, no report by ${first.deadAfter}: its instance stopped`})`,
          { tick, previousExecutionId: first.executionId },
        );
      }
      return held(deps, objectKey, next, written.generation);
    } catch (error) {
      // Another delivery took it over first: look again (and find it running).
      if (!isPreconditionFailed(error)) throw error;
    }
  }
  throw new SchedulerError('STORE_PRECONDITION', `the claim of tick ${tick} kept changing under us`);
}

function held(deps: ClaimDeps, objectKey: string, record: TickClaimRecord, generation: string): TickClaim {
  const { state, clock, logger } = deps;
  return {
    objectKey,
    async release() {
      try {
        await state.delete(objectKey, { ifGenerationMatch: generation });
        logger.info('tick claim given back: nothing was dispatched, so a retry may run the tick', {
          tick: record.key,
        });
      } catch (error) {
        logger.warn(
          `tick claim not given back (${errorMessage(error)}); a retry may take it over after ${record.deadAfter}`,
          { tick: record.key },
        );
      }
    },
    async finish(status) {
      const final: TickClaimRecord = { ...record, status, finishedAt: isoTime(clock.now()) };
      try {
        await putJson(state, objectKey, final, { ifGenerationMatch: generation });
      } catch (error) {
        // Taken over (we were taken for dead), or the store failed: the report says what ran.
        logger.warn(`tick claim not marked ${status}: ${errorMessage(error)}`, { tick: record.key });
      }
    },
  };
}
