import { SchedulerError } from '../errors';
import type { LeaseManager } from '../lease/lease';
import type { ObjectStore } from '../store/types';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { TokenBroker } from './types';

export interface TokenBrokerDeps {
  /** The state store; tokens live under `tokens/`, login leases under `leases/`. */
  store: ObjectStore;
  leases: LeaseManager;
  clock: Clock;
  logger: Logger;
}

export function createTokenBroker(_deps: TokenBrokerDeps): TokenBroker {
  const missing = () => new SchedulerError('INTERNAL', 'the token broker is not implemented yet');
  return {
    getToken: async () => {
      throw missing();
    },
    invalidate: async () => {
      throw missing();
    },
  };
}
