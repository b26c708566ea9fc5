import { execute } from '../../src/execution/execute';
import { makeTrigger, type Trigger } from '../../src/execution/trigger';
import type { ExecutionReport } from '../../src/report/report';
import { CollectorRegistry } from '../../src/runtime/registry';
import type { Services } from '../../src/services';
import type { LogEntry } from '../../src/util/log';
import { FakeClock } from '../support/fake-clock';
import { testServices } from '../support/services';
import type { StoreFixture } from '../support/stores';
import { testCollector } from '../support/test-collectors';

/** One run as its collector saw it. */
export interface SeenRun {
  collector: string;
  executionId: string;
  scheduledTime: string;
  /** The collector's clock when it started. */
  at: string;
}

/** Collectors that record every run (what they were asked for, and when), one per name. */
export function recordingRegistry(seen: SeenRun[], names: string[]): CollectorRegistry {
  return new CollectorRegistry(
    names.map((name) =>
      testCollector(name, async (ctx) => {
        seen.push({
          collector: ctx.collector,
          executionId: ctx.executionId,
          scheduledTime: ctx.scheduledTime.toISOString(),
          at: new Date(ctx.clock.now()).toISOString(),
        });
        return { records: 1 };
      }),
    ),
  );
}

/** A Cloud Scheduler tick of job `job` at `iso`. */
export function tick(iso: string, job = 'master'): Trigger {
  return makeTrigger('cloud-scheduler', {
    tickMs: Date.parse(iso),
    jobName: `projects/p/locations/l/jobs/${job}`,
  });
}

/** Storage settings for a case of its own on a fixture (every instance of the case shares them). */
export function storageYaml(storage: StoreFixture, prefix: string): string {
  const uri = (name: string) => storage.uri(`${prefix}/${name}`);
  return `storage: { reports: ${uri('reports')}, raw: ${uri('raw')}, state: ${uri('state')} }\n`;
}

/** A scheduler instance on the shared storage, with its own fake clock at `at`. */
export async function instance(
  yaml: string,
  options: {
    registry: CollectorRegistry;
    at: string;
    env?: Record<string, string>;
    random?: () => number;
    clock?: FakeClock;
  },
): Promise<Services & { logs: LogEntry[]; clock: FakeClock }> {
  const clock = options.clock ?? new FakeClock(options.at);
  const services = await testServices(yaml, '', {
    registry: options.registry,
    clock,
    ...(options.env ? { env: options.env } : {}),
    ...(options.random ? { random: options.random } : {}),
  });
  return Object.assign(services, { clock });
}

/** Runs a trigger at `iso` on an instance (its clock moved there first). */
export async function runAt(
  services: Services & { clock: FakeClock },
  iso: string,
  trigger: Trigger,
): Promise<ExecutionReport> {
  const target = Date.parse(iso);
  if (target > services.clock.now()) services.clock.advance(target - services.clock.now());
  return (await execute(services, trigger)).report;
}
