/**
 * Every secret value the process learns (tokens, passwords, API keys) is registered here, so that the
 * logger, reports and error bodies can scrub it from any text, including messages written by libraries
 * that echo a header or a URL back.
 */
const known = new Set<string>();
let pattern: RegExp | null = null;

/** Values shorter than this are not scrubbed: they would mangle ordinary words. */
const MIN_SECRET_LENGTH = 6;

/**
 * Short-lived tokens (ID tokens renew hourly per audience) would grow the set without end on a
 * long-lived instance; the oldest are forgotten past this, long after they expired.
 */
const MAX_KNOWN_SECRETS = 500;

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_SECRET_LENGTH) return;
  if (known.has(value)) {
    // Most recently seen last, so eviction drops the stalest.
    known.delete(value);
  } else {
    pattern = null;
  }
  known.add(value);
  if (known.size > MAX_KNOWN_SECRETS) {
    known.delete(known.values().next().value!);
    pattern = null;
  }
}

/**
 * A header echoed back (`Authorization: Basic …`, `"authorization":"Bearer …"`): the value, to the end
 * of the line, quote or JSON member, whatever its scheme.
 */
const AUTHORIZATION_HEADER = /\b((?:proxy-)?authorization)(["']?\s*[:=]\s*["']?)[^"'\r\n,}]+/gi;
/** A bearer credential anywhere (RFC 6750's b64token); short words after "Bearer" are left alone. */
const BEARER_TOKEN = /\bBearer\s+[A-Za-z0-9\-._~+/]{8,}=*/g;
/** The userinfo of a URL (`https://user:password@host`). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;
/**
 * The query of an http(s) URL, which may carry a key; the URL keeps a mark that it had one. Punctuation
 * ending the query is taken for the sentence's.
 */
const URL_QUERY = /\b(https?:\/\/[^\s?#"'<>]+)\?(?:[^\s#"'<>]*[^\s#"'<>.,;:!?)\]])?/gi;

/** What AUTHORIZATION_HEADER, BEARER_TOKEN, URL_USERINFO and URL_QUERY each need to match at all. */
const MAY_HOLD_CREDENTIALS = /:\/\/|bearer|authorization/i;

/**
 * `text` without any registered secret value, any Authorization header value or bearer token, and
 * without URL credentials or query strings: for anything that may quote what a collector, an upstream
 * or a library said (an error echoing our request's headers or URL).
 */
export function scrub(text: string): string {
  // Known values first, while they still stand as they were read.
  if (known.size > 0) {
    pattern ??= new RegExp(
      [...known]
        .sort((a, b) => b.length - a.length)
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|'),
      'g',
    );
    text = text.replace(pattern, '[redacted]');
  }
  // Each pattern below needs one of these; most texts (a report's statuses and times) have none.
  if (!MAY_HOLD_CREDENTIALS.test(text)) return text;
  return text
    .replace(AUTHORIZATION_HEADER, '$1$2[redacted]')
    .replace(BEARER_TOKEN, 'Bearer [redacted]')
    .replace(URL_USERINFO, '$1')
    .replace(URL_QUERY, '$1?…');
}

const SECRET_KEY = /(token|password|passwd|secret|authorization|api[-_]?key|^sign$|credential)/i;

/** A deep copy of `value` with secret-named fields masked and registered secrets scrubbed. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object' || depth > 12) return value;
  if (value instanceof Error) return scrub(value.message);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      SECRET_KEY.test(k) && v !== null && typeof v !== 'boolean' && typeof v !== 'object'
        ? '[redacted]'
        : redact(v, depth + 1);
  }
  return out;
}
