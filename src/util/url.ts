/** URLs in messages lose their query string and credentials: either may carry a key. */
export function redactUrl(url: string): string {
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
