import type * as v from 'valibot';
import { closest } from './suggest';

export interface Problem {
  /** Dotted path of the field (`collectors.dvf.schedule`, `options.years.0`). */
  field: string;
  kind: 'unknown' | 'missing' | 'type' | 'invalid';
  /** What is wrong, without the field name. */
  message: string;
}

type Issue = v.BaseIssue<unknown>;

/**
 * One wording for every valibot issue, whatever was validated (config, request body, dispatch payload,
 * collector options): unknown fields with a "did you mean", missing ones, wrong types, bad values.
 */
export interface DescribeOptions {
  /** Path in front of the issue's own (e.g. ['options']). */
  prefix?: string[];
  /** The keys allowed where an unknown one was found, for "did you mean". */
  allowed?: readonly string[];
  /** What a key is called here: key (config), field (request), option (collector options). */
  noun?: string;
}

export function describeIssue(issue: Issue, options: DescribeOptions = {}): Problem {
  const { prefix = [], allowed = [], noun = 'key' } = options;
  const path = [...prefix, ...(issue.path ?? []).map((p) => String(p.key))];
  const field = path.join('.') || 'body';
  const last = issue.path?.[issue.path.length - 1];
  if (issue.kind === 'schema' && issue.received === 'undefined') {
    return {
      field,
      kind: 'missing',
      message: `is required${issue.expected && issue.expected !== 'never' ? ` (${expectedWords(issue.expected)})` : ''}`,
    };
  }
  if ((issue.type === 'strict_object' || issue.type === 'object') && last?.origin === 'key') {
    const suggestion = closest(String(last.key), allowed);
    return {
      field,
      kind: 'unknown',
      message: `unknown ${noun}${suggestion ? `; did you mean "${suggestion}"?` : allowed.length > 0 ? ` (expected one of: ${allowed.join(', ')})` : ''}`,
    };
  }
  if (issue.message.startsWith('Invalid type')) {
    return {
      field,
      kind: 'type',
      message: `expected ${expectedWords(issue.expected)}, got ${issue.received}`,
    };
  }
  const got =
    issue.received && !issue.message.includes(issue.received) && last?.origin !== 'key'
      ? ` (got ${issue.received})`
      : '';
  const subject = last?.origin === 'key' ? `"${String(last.key)}" ` : '';
  return { field, kind: 'invalid', message: `${subject}${issue.message}${got}` };
}

export function problemText(p: Problem): string {
  return `${p.field}: ${p.message}`;
}

function expectedWords(expected: string | null): string {
  if (!expected) return 'a value';
  const words: Record<string, string> = {
    Object: 'an object',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    Array: 'a list',
  };
  return expected
    .split(' | ')
    .map((e) => words[e] ?? e)
    .join(' or ');
}
