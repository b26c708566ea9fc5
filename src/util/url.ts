/** Scheme, lower-case host and port, a path: no credentials, query, fragment, escapes or spaces. */
const PLAIN_URL =
  /^https?:\/\/(?:[1-9]?\d{1,2}(?:\.[1-9]?\d{1,2}){3}|[a-z0-9.-]*[a-z-][a-z0-9.-]*)(?::(?!80\/|443\/)\d{1,5})?\/[A-Za-z0-9._~!$&'()*+,;=:/-]*$/;

/** URLs in messages lose their query string and credentials: either may carry a key. */
export function redactUrl(url: string): string {
  // Most URLs hold nothing to redact and are already in the form URL would print: no parse (a run of
  // 5,000 collectors prints 5,000 of them).
  if (PLAIN_URL.test(url) && !url.includes('/.')) return url;
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    const hadQuery = u.search !== '';
    u.search = '';
    return `${u.toString()}${hadQuery ? '?…' : ''}`;
  } catch {
    return url.replace(/\?.*$/, '?…');
  }
}

/** The ID-token audience of a URL: scheme, host and path, without query or fragment. */
export function audienceOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
