import { DEFAULTS } from '../config/types';
import { RequestError } from '../errors';
import { newExecutionId } from '../execution/execution-id';
import { runCollector } from '../runtime/run-collector';
import { collectorRuntime, resolveCollector } from '../runtime/resolve';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';
import { withServices } from './with-services';

export interface CollectOptions {
  options?: Record<string, unknown>;
  json?: boolean;
}

/** Runs one collector in this process, exactly as its HTTP route would. */
export async function collectCommand(
  name: string,
  options: CollectOptions,
  global: GlobalOptions,
  loadServices: ServicesLoader,
  io: CliIO,
): Promise<number> {
  return withServices(loadServices, global, async (services) => {
    const resolved = resolveCollector(services, name);
    if (!resolved) {
      throw new RequestError(
        `no collector named "${name}" (available: ${services.registry.names().join(', ')})`,
        {},
        'COLLECTOR_UNKNOWN',
      );
    }
    const { collector, configured } = resolved;
    const now = services.clock.now();
    const { record } = await runCollector(
      collector,
      {
        executionId: newExecutionId(now),
        collector: name,
        scheduledTime: new Date(now).toISOString(),
        attempt: 1,
        options: { ...configured?.options, ...options.options },
      },
      configured?.timeoutSeconds ?? DEFAULTS.collectorTimeoutSeconds,
      collectorRuntime(services),
    );
    if (options.json) io.stdout(JSON.stringify(record, null, 2) + '\n');
    else {
      const what =
        record.status === 'success'
          ? `${record.result?.records ?? 0} records, ${record.manifest?.totals.objects ?? 0} objects`
          : (record.error ?? record.reason ?? '');
      io.stdout(`${name}: ${record.status} in ${record.durationSeconds?.toFixed(2)} s: ${what}\n`);
      if (record.manifest) io.stdout(`manifest: ${record.manifest.location}\n`);
    }
    return record.status === 'failed' ? EXIT.failed : EXIT.ok;
  });
}
