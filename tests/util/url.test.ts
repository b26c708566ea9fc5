/**
 * redactUrl answers plain URLs without parsing them (a run prints thousands): what it answers must be
 * what the WHATWG URL parse would print, credentials and query values removed, on every kind of URL.
 */
import { redactUrl } from '../../src/util/url';

/** The reference: the URL parsed, its credentials and query removed. */
function parsed(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  const hadQuery = u.search !== '';
  u.search = '';
  return `${u.toString()}${hadQuery ? '?…' : ''}`;
}

describe('redactUrl', () => {
  it.each([
    'http://127.0.0.1:8080/collectors/c1',
    'https://europe-west1-acme.cloudfunctions.net/dvf',
    'http://127.0.0.1:80/x',
    'https://h.example:443/x',
    'http://127.1/x',
    'http://H.Example/x',
    'http://h.example',
    'http://h/a/../b',
    'http://h/a/./b',
    'http://h/a%2Fb',
    'http://user:secret@h.example/x',
    'https://h.example/p?key=secret&x=1',
    'https://h.example/p#frag',
    'http://[::1]:8080/x',
  ])('%s reads as the parsed URL would print it', (url) => {
    expect(redactUrl(url)).toBe(parsed(url));
  });

  it('never shows credentials or query values', () => {
    const shown = redactUrl('https://bob:hunter2@h.example/x?token=abc');
    expect(shown).not.toMatch(/hunter2|bob|abc/);
  });
});
