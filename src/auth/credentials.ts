import { SchedulerError } from '../errors';
import { Memo } from '../util/single-flight';

/** One look per process; a failed look is forgotten, so credentials set up since are found. */
const checked = new Memo<void>(async () => {
  const { GoogleAuth } = require('google-auth-library') as typeof import('google-auth-library');
  try {
    await new GoogleAuth().getClient();
  } catch (cause) {
    throw new SchedulerError(
      'AUTH_NO_CREDENTIALS',
      'no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, run `gcloud auth application-default login`, or run on Google Cloud',
      { cause },
    );
  }
});

/**
 * Fails fast, with one message saying how to fix it, when no Google credentials are available. Call it
 * before building any Google client: a gax client built without credentials can leave an unhandled
 * rejection that kills the process even when the call itself is caught.
 */
export function assertGoogleCredentials(): Promise<void> {
  return checked.get();
}
