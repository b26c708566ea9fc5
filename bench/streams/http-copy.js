'use strict';
// The baseline a collector is compared with: a plain HTTP GET piped to a file, nothing else.
// Usage: node http-copy.js <url> <file>
const fs = require('node:fs');
const http = require('node:http');
const { pipeline } = require('node:stream/promises');

const [url, file] = process.argv.slice(2);
http.get(url, async (res) => {
  if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
  await pipeline(res, fs.createWriteStream(file));
});
