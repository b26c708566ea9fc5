import { isSchedulerError, type SchedulerError } from '../../src/errors';

/** The error `promise` rejects with, which must be one of ours (anything else fails the test as it is). */
export async function rejection(promise: Promise<unknown>): Promise<SchedulerError> {
  try {
    await promise;
  } catch (error) {
    if (isSchedulerError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}
