'use strict';
// The baselines a collector is compared with: a plain HTTP GET piped to a file, nothing else; or the
// same with an MD5 of the bytes on the way (what any store that records a checksum must also do); or
// the same while gunzip inflates the bytes and counts their lines (what counting a gzipped CSV's rows
// costs at least: inflating one gzip stream runs on one core and cannot be split).
// Usage: node http-copy.js <url> <file> [md5|gunzip]
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { PassThrough, Transform, Writable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { createGunzip } = require('node:zlib');

const [url, file, mode] = process.argv.slice(2);
http.get(url, async (res) => {
  if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
  if (mode === 'gunzip') {
    let lines = 0;
    const count = new Writable({
      write(chunk, _encoding, done) {
        for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) lines++;
        done();
      },
    });
    const inflate = new PassThrough();
    res.pipe(inflate);
    await Promise.all([
      pipeline(res, fs.createWriteStream(file)),
      pipeline(inflate, createGunzip({ chunkSize: 1024 * 1024 }), count),
    ]);
    process.stdout.write(String(lines));
    return;
  }
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
