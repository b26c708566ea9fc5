import * as v from 'valibot';
import { PermanentError } from '../src/runtime/errors';

/** Validates a collector's options; problems name the option (`options.departements.0: ...`). */
export function parseOptions<S extends v.GenericSchema>(schema: S, raw: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, raw ?? {}, { abortEarly: false });
  if (result.success) return result.output;
  const problems = result.issues.map((i) => {
    const field = ['options', ...(i.path ?? []).map((p) => String(p.key))].join('.');
    if (i.type === 'strict_object') return `${field}: unknown option`;
    if (i.message.startsWith('Invalid type')) return `${field}: expected ${i.expected}, got ${i.received}`;
    return `${field}: ${i.message}${i.received && !i.message.includes(i.received) ? ` (got ${i.received})` : ''}`;
  });
  throw new PermanentError(problems.join('; '), { details: { problems } });
}
