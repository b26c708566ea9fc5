import { userInfo, hostname } from 'node:os';
import { pauseTarget, resumeTarget } from '../schedule/pause-commands';
import { describePause, PauseStore, type PauseRecord } from '../schedule/pause';
import type { Services } from '../services';
import { EXIT, type CliIO, type GlobalOptions, type ServicesLoader } from './types';
import { withServices } from './with-services';

export interface PauseOptions {
  reason: string;
  until?: string;
  by?: string;
  json?: boolean;
}

/** `scheduler pause NAME|group:G --reason TEXT [--until ISO]`: in the state store, for every instance. */
export async function pauseCommand(
  target: string,
  options: PauseOptions,
  global: GlobalOptions,
  loadServices: ServicesLoader,
  io: CliIO,
): Promise<number> {
  return withServices(loadServices, global, async (services) => {
    const record = await pauseTarget(services, target, {
      reason: options.reason,
      by: options.by ?? operator(io),
      until: options.until ? Date.parse(options.until) : null,
    });
    io.stdout(
      options.json
        ? JSON.stringify(record, null, 2) + '\n'
        : `${record.target}: ${describePause(record, { showGroup: false })}\n`,
    );
    return EXIT.ok;
  });
}

/** `scheduler resume NAME|group:G`: exit 1 when it was not paused. */
export async function resumeCommand(
  target: string,
  options: { json?: boolean },
  global: GlobalOptions,
  loadServices: ServicesLoader,
  io: CliIO,
): Promise<number> {
  return withServices(loadServices, global, async (services) => {
    const record = await resumeTarget(services, target);
    if (options.json) io.stdout(JSON.stringify({ resumed: record }, null, 2) + '\n');
    else if (record)
      io.stdout(`${record.target}: resumed (was ${describePause(record, { showGroup: false })})\n`);
    else io.stderr(`${target} is not paused\n`);
    return record ? EXIT.ok : EXIT.failed;
  });
}

/** The pauses in force, as lines for `plan` and `status` (empty when none). */
export async function pauseLines(services: Services): Promise<{ pauses: PauseRecord[]; text: string }> {
  const pauses = await new PauseStore(services.stores.state, () => services.clock.now()).list();
  if (pauses.length === 0) return { pauses, text: '' };
  return {
    pauses,
    text: [
      'Paused:',
      ...pauses.map((p) => `  ${p.target.padEnd(20)} ${describePause(p, { showGroup: false })}`),
    ].join('\n'),
  };
}

/** Who pauses from this machine: the OS user (or $USER) at this host. */
function operator(io: CliIO): string {
  let user = io.env['USER'] ?? io.env['USERNAME'];
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${hostname()} (cli)`;
}
