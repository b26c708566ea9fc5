'use strict';
// A farm of loopback "collectors" for benchmarks, in its own process so that its CPU is not counted
// against the dispatcher's. Every path is a collector; each answers after DELAY_MS with a small JSON
// run summary. Prints its URL on stdout once listening.
const http = require('node:http');

const delayMs = Number(process.env.DELAY_MS ?? 20);
const body = JSON.stringify({ ok: true, records: 1 });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, delayMs);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${server.address().port}\n`);
});
process.on('disconnect', () => process.exit(0));
