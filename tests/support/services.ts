import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { createServices, type ServiceOptions, type Services } from '../../src/create-services';
import { createLogger, type LogEntry, type Logger } from '../../src/util/log';

export function captureLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return { logger: createLogger((e) => entries.push(e), {}, 'DEBUG'), entries };
}

/** A config from YAML text, with storage under `dir` unless the text sets it. */
export function testConfig(yaml: string, dir: string, env: Record<string, string> = {}): Config {
  const storage = /^storage:/m.test(yaml)
    ? ''
    : `storage: { reports: ${dir}/reports, raw: ${dir}/raw, state: ${dir}/state }\n`;
  return parseConfig(storage + yaml, 'test-config.yaml', env);
}

export async function testServices(
  yaml: string,
  dir: string,
  options: ServiceOptions = {},
): Promise<Services & { logs: LogEntry[] }> {
  const { logger, entries } = captureLogger();
  const services = await createServices(testConfig(yaml, dir), { logger, env: {}, ...options });
  return Object.assign(services, { logs: entries });
}
