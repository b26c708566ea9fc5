import { SchedulerError } from '../errors';
import type { Services } from '../services';
import type { Dispatcher } from './types';

export function createTasksDispatcher(_services: Services): Dispatcher {
  throw new SchedulerError('REQUEST_INVALID', 'Cloud Tasks mode is not available yet; use mode: http');
}
