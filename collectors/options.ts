import * as v from 'valibot';
import { PermanentError } from '../src/runtime/errors';
import { describeIssue, problemText } from '../src/util/issues';

/** Validates a collector's options; problems name the option (`options.departements.0: ...`). */
export function parseOptions<S extends v.GenericSchema>(schema: S, raw: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, raw ?? {}, { abortEarly: false });
  if (result.success) return result.output;
  const allowed = 'entries' in schema ? Object.keys((schema as { entries: object }).entries) : [];
  const problems = result.issues.map((i) =>
    problemText(describeIssue(i, { prefix: ['options'], allowed, noun: 'option' })),
  );
  throw new PermanentError(problems.join('; '), { details: { problems } });
}
