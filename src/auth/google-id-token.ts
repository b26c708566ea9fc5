import { SchedulerError } from '../errors';
import type { HeaderProvider } from './types';

export class GoogleIdTokenProvider implements HeaderProvider {
  async headersFor(): Promise<Record<string, string>> {
    throw new SchedulerError(
      'AUTH_NO_CREDENTIALS',
      'google-id-token auth is not available yet; use auth type none or bearer',
    );
  }
}
