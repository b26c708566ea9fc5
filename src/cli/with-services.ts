import type { Services } from '../services';
import type { GlobalOptions, ServicesLoader } from './types';

/** Runs a command with services loaded for it, and always closes them (servers, sockets, clients). */
export async function withServices<T>(
  load: ServicesLoader,
  global: GlobalOptions,
  command: (services: Services) => Promise<T>,
): Promise<T> {
  const services = await load(global);
  try {
    return await command(services);
  } finally {
    await services.close();
  }
}
