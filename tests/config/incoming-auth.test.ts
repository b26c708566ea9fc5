import * as path from 'node:path';
import { ConfigError } from '../../src/config/errors';
import { loadConfig, parseConfig } from '../../src/config/load';

function problemsOf(yaml: string): string {
  try {
    parseConfig(yaml, 'config.yaml', {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

const scheduler = (incoming: string) =>
  `timezone: UTC\nscheduler:\n  incoming_auth:\n${incoming}collectors:\n  dvf: {}\n`;

describe('scheduler.incoming_auth', () => {
  it.each([
    {
      name: 'google-id-token without audiences or allowed emails',
      yaml: scheduler('    type: google-id-token\n'),
      expected: [
        /config\.yaml:3 scheduler\.incoming_auth\.audiences: is required for type google-id-token/,
        /config\.yaml:3 scheduler\.incoming_auth\.allowed_emails: is required for type google-id-token: anyone with a Google account/,
      ],
    },
    {
      name: 'an audience that is not an http(s) URL',
      yaml: scheduler(
        '    type: google-id-token\n    audiences: ["file:///etc/passwd"]\n    allowed_emails: [a@example.com]\n',
      ),
      expected: [/config\.yaml:5 scheduler\.incoming_auth\.audiences\.0: is not an http\(s\) URL/],
    },
    {
      name: 'an allowed email that is not one',
      yaml: scheduler(
        '    type: google-id-token\n    audiences: ["https://f.example"]\n    allowed_emails: [scheduler]\n',
      ),
      expected: [/config\.yaml:6 scheduler\.incoming_auth\.allowed_emails\.0: is not an e-mail address/],
    },
    {
      name: 'a key of another type',
      yaml: scheduler(
        '    type: google-id-token\n    audiences: ["https://f.example"]\n    allowed_emails: [a@example.com]\n    token_env: TOKEN\n',
      ),
      expected: [
        /config\.yaml:7 scheduler\.incoming_auth\.token_env: only applies to type: bearer \(type is google-id-token\)/,
      ],
    },
    {
      name: 'allow_unauthenticated on bearer',
      yaml: scheduler('    type: bearer\n    allow_unauthenticated: true\n'),
      expected: [
        /config\.yaml:5 scheduler\.incoming_auth\.allow_unauthenticated: only applies to type: none/,
      ],
    },
    {
      name: "bearer's keys under none (none only tolerates google-id-token's)",
      yaml: scheduler('    type: none\n    audiences: ["https://f.example"]\n    token_env: TOKEN\n'),
      expected: [
        /config\.yaml:6 scheduler\.incoming_auth\.token_env: only applies to type: bearer \(type is none\)/,
      ],
    },
    {
      name: 'a malformed audience or e-mail under none, which is still checked',
      yaml: scheduler(
        '    type: none\n    audiences: ["file:///etc/passwd"]\n    allowed_emails: [scheduler]\n',
      ),
      expected: [
        /config\.yaml:5 scheduler\.incoming_auth\.audiences\.0: is not an http\(s\) URL/,
        /config\.yaml:6 scheduler\.incoming_auth\.allowed_emails\.0: is not an e-mail address/,
      ],
    },
    {
      name: "google-id-token's keys under bearer",
      yaml: scheduler('    type: bearer\n    allowed_emails: [a@example.com]\n'),
      expected: [
        /config\.yaml:5 scheduler\.incoming_auth\.allowed_emails: only applies to type: google-id-token \(type is bearer\)/,
      ],
    },
    {
      name: 'an unknown key',
      yaml: scheduler('    type: bearer\n    tokenenv: X\n'),
      expected: [
        /config\.yaml:5 scheduler\.incoming_auth\.tokenenv: unknown key; did you mean "token_env"\?/,
      ],
    },
  ])('$name is a config error naming the key and line', ({ yaml, expected }) => {
    const message = problemsOf(yaml);
    for (const e of expected) expect(message).toMatch(e);
  });

  it('normalises each type, with documented defaults', () => {
    const google = parseConfig(
      scheduler(
        '    type: google-id-token\n    audiences: ["https://f.example/scheduler"]\n    allowed_emails: [Sched@P.iam.gserviceaccount.com]\n',
      ),
      'c.yaml',
      {},
    );
    expect(google.scheduler.incomingAuth).toEqual({
      type: 'google-id-token',
      audiences: ['https://f.example/scheduler'],
      allowedEmails: ['sched@p.iam.gserviceaccount.com'],
      certsUrl: 'https://www.googleapis.com/oauth2/v1/certs',
    });
    expect(parseConfig(scheduler('    type: bearer\n'), 'c.yaml', {}).scheduler.incomingAuth).toEqual({
      type: 'bearer',
      tokenEnv: 'FUNCTION_AUTH_TOKEN',
    });
    expect(parseConfig(scheduler('    type: none\n'), 'c.yaml', {}).scheduler.incomingAuth).toEqual({
      type: 'none',
      allowUnauthenticated: false,
    });
  });

  it('left out: the bearer the scheduler itself sends, else none', () => {
    const bearer = parseConfig(
      'scheduler:\n  auth: { type: bearer, token_env: SHARED, secret: projects/p/secrets/s/versions/2 }\ncollectors:\n  dvf: {}\n',
      'c.yaml',
      {},
    );
    expect(bearer.scheduler.incomingAuth).toEqual({
      type: 'bearer',
      tokenEnv: 'SHARED',
      secret: 'projects/p/secrets/s/versions/2',
    });
    const google = parseConfig(
      'collectors:\n  dvf: { url: "https://dvf.example/collectors/dvf" }\n',
      'c.yaml',
      {},
    );
    expect(google.scheduler.auth).toEqual({ type: 'google-id-token' });
    expect(google.scheduler.incomingAuth).toEqual({ type: 'none', allowUnauthenticated: false });
  });

  it("none tolerates google-id-token's keys, so one file serves a local run and a deployment", () => {
    const keys =
      '    audiences: ["https://europe-west1-p.cloudfunctions.net/scheduler"]\n    allowed_emails: [s@p.iam.gserviceaccount.com]\n    certs_url: https://certs.example/\n';
    const yaml = scheduler(`    type: \${INCOMING:-none}\n${keys}`);
    expect(parseConfig(yaml, 'c.yaml', {}).scheduler.incomingAuth).toEqual({
      type: 'none',
      allowUnauthenticated: false,
    });
    expect(parseConfig(yaml, 'c.yaml', { INCOMING: 'google-id-token' }).scheduler.incomingAuth).toEqual({
      type: 'google-id-token',
      audiences: ['https://europe-west1-p.cloudfunctions.net/scheduler'],
      allowedEmails: ['s@p.iam.gserviceaccount.com'],
      certsUrl: 'https://certs.example/',
    });
  });

  it('the seed config loads with the local default, and with what deploy sets as google-id-token', async () => {
    const file = path.resolve(__dirname, '../../config/config.yaml');
    const config = await loadConfig(file, {});
    expect(config.scheduler.incomingAuth).toEqual({ type: 'none', allowUnauthenticated: false });
    const deployed = await loadConfig(file, {
      SCHEDULER_INCOMING_AUTH: 'google-id-token',
      SCHEDULER_AUDIENCE: 'https://europe-west1-p1.cloudfunctions.net/scheduler',
      SCHEDULER_SERVICE_ACCOUNT: 'sched@p1.iam.gserviceaccount.com',
    });
    expect(deployed.scheduler.incomingAuth).toEqual({
      type: 'google-id-token',
      audiences: ['https://europe-west1-p1.cloudfunctions.net/scheduler'],
      allowedEmails: ['sched@p1.iam.gserviceaccount.com'],
      certsUrl: 'https://www.googleapis.com/oauth2/v1/certs',
    });
    expect(deployed.scheduler.tasks.serviceAccountEmail).toBe('sched@p1.iam.gserviceaccount.com');
  });
});
