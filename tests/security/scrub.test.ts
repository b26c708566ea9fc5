import { registerSecret, scrub } from '../../src/util/secrets';

describe('scrub', () => {
  it.each([
    [
      'an echoed Authorization header',
      'refused; Authorization: Basic dXNlcjpwYXNz\nnext',
      'refused; Authorization: [redacted]\nnext',
    ],
    [
      'a JSON-echoed header',
      '{"authorization":"Bearer abc.def.ghi-jkl","x":1}',
      '{"authorization":"[redacted]","x":1}',
    ],
    [
      'a bare bearer token',
      'sent Bearer eyJhbGciOiJSUzI1NiJ9.eyJ4Ijo1fQ.c2ln to it',
      'sent Bearer [redacted] to it',
    ],
    ['URL credentials', 'GET https://user:p4ss@api.example/v1 failed', 'GET https://api.example/v1 failed'],
    [
      'URL query values',
      'GET https://api.example/v1/data?key=s3cr3t&page=2 failed',
      'GET https://api.example/v1/data?… failed',
    ],
    ['both', 'at http://u:p@h.example:8080/x?token=t, retrying', 'at http://h.example:8080/x?…, retrying'],
  ])('removes %s, never registered anywhere', (_label, text, expected) => {
    expect(scrub(text)).toBe(expected);
  });

  it('leaves ordinary words and plain URLs alone', () => {
    const text =
      'missing or wrong bearer token; see https://cloud.google.com/run/docs/authenticating/overview.';
    expect(scrub(text)).toBe(text);
  });

  it('removes registered values first, wherever they stand', () => {
    registerSecret('registered-value-123');
    expect(scrub('x=registered-value-123; in url https://h.example/registered-value-123')).toBe(
      'x=[redacted]; in url https://h.example/[redacted]',
    );
  });
});
