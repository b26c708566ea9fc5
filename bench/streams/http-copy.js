'use strict';
// The baselines a collector is compared with: a plain HTTP GET piped to a file, nothing else; or the
// same with an MD5 of the bytes on the way (what any store that records a checksum must also do).
// Usage: node http-copy.js <url> <file> [md5]
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');

const [url, file, mode] = process.argv.slice(2);
http.get(url, async (res) => {
  if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
  if (mode !== 'md5') return pipeline(res, fs.createWriteStream(file));
  const md5 = createHash('md5');
  const tap = new Transform({
    transform(chunk, _encoding, done) {
      md5.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(res, tap, fs.createWriteStream(file));
  process.stdout.write(md5.digest('hex'));
});
