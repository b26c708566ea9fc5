'use strict';
// Incoming caller checks (issue 10; `main()` is what bench/run.js calls): what checking the caller of
// every request costs, per type, and what scrubbing one error message costs. The Google ID tokens are
// RS256, signed by a key made here, verified by google-auth-library against certificates served on
// loopback (fetched once, then cached for their max-age, as from Google).
//   node bench/callers.js            (after npm run build)
//   CHECKS=2000 ROUNDS=5 node bench/callers.js
const http = require('node:http');
const path = require('node:path');
const { createSign, generateKeyPairSync } = require('node:crypto');
const forge = require('node-forge');
const { timeRounds } = require('./measure');

const dist = path.resolve(__dirname, '../dist/src');
const { GoogleIdTokenCheck } = require(`${dist}/auth/incoming/google-id-token.js`);
const { bearerCheck } = require(`${dist}/auth/incoming/bearer.js`);
const { registerSecret, scrub } = require(`${dist}/util/secrets.js`);

const CHECKS = Number(process.env.CHECKS ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const AUD = 'https://europe-west1-p.cloudfunctions.net/scheduler';
const EMAIL = 'scheduler-invoker@p.iam.gserviceaccount.com';

function signingKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date('2020-01-01T00:00:00Z');
  cert.validity.notAfter = new Date('2100-01-01T00:00:00Z');
  cert.setSubject([{ name: 'commonName', value: 'bench' }]);
  cert.setIssuer([{ name: 'commonName', value: 'bench' }]);
  cert.sign(
    forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
    forge.md.sha256.create(),
  );
  return { kid, privateKey, pem: forge.pki.certificateToPem(cert) };
}

function idToken(key) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const signed = `${b64({ alg: 'RS256', kid: key.kid, typ: 'JWT' })}.${b64({
    iss: 'https://accounts.google.com',
    aud: AUD,
    sub: '1',
    email: EMAIL,
    email_verified: true,
    iat: now - 60,
    exp: now + 3600,
  })}`;
  return `${signed}.${createSign('RSA-SHA256').update(signed).sign(key.privateKey).toString('base64url')}`;
}

/** µs per check: the best round of CHECKS sequential checks. */
async function perCheck(check, authorization) {
  const verdict = await check.check({ authorization });
  if (!verdict.allowed) throw new Error(`benchmark caller refused: ${verdict.reason}`);
  const { best, median } = await timeRounds(ROUNDS, async () => {
    for (let i = 0; i < CHECKS; i++) await check.check({ authorization });
  });
  return {
    usPerCheck: +((best.wall * 1000) / CHECKS).toFixed(1),
    cpuUsPerCheck: +((best.cpuMs * 1000) / CHECKS).toFixed(1),
    medianUsPerCheck: +((median * 1000) / CHECKS).toFixed(1),
  };
}

async function main() {
  const key = signingKey('bench-1');
  let certFetches = 0;
  const server = http.createServer((req, res) => {
    certFetches++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=21600' });
    res.end(JSON.stringify({ [key.kid]: key.pem }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const token = 'bench-shared-secret-0123456789';
    const none = { check: async () => ({ allowed: true, caller: 'anyone' }) };
    const google = new GoogleIdTokenCheck({
      audiences: [AUD],
      allowedEmails: [EMAIL],
      certsUrl: `http://127.0.0.1:${server.address().port}/certs`,
      fetch: globalThis.fetch,
    });
    const results = {
      checksPerRound: CHECKS,
      none: await perCheck(none, undefined),
      bearer: await perCheck(
        bearerCheck(async () => token, 'bench'),
        `Bearer ${token}`,
      ),
      googleIdToken: await perCheck(google, `Bearer ${idToken(key)}`),
    };
    results.googleIdToken.certificateFetches = certFetches;

    // One error message as a collector might return it, with 50 registered secrets.
    for (let i = 0; i < 50; i++) registerSecret(`registered-secret-${i}-${'x'.repeat(20)}`);
    const message =
      'POST https://collectors.example/xmp?key=abc answered 503: upstream answered 401: {"error":"denied",' +
      '"authorization":"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl","url":"https://u:p@api.example/v1?token=t"}';
    const SCRUBS = 20000;
    const { best } = await timeRounds(ROUNDS, () => {
      for (let i = 0; i < SCRUBS; i++) scrub(message);
    });
    results.scrub = { usPerMessage: +((best.wall * 1000) / SCRUBS).toFixed(2), messageChars: message.length };
    return results;
  } finally {
    server.close();
  }
}

module.exports = { main };

if (require.main === module) {
  main().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
