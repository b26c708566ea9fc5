import * as v from 'valibot';

/** Config values that name where a credential comes from: an environment variable or a Secret Manager version. */

export const envName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not an environment variable name'),
);

export const secretVersion = v.pipe(
  v.string(),
  v.regex(
    /^projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+$/,
    'must look like projects/P/secrets/S/versions/V',
  ),
);
