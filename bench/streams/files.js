'use strict';
// The bytes the streaming benchmark serves, written once to disk: a SIRENE stock zip (one stored CSV
// entry, data descriptor, as tests/support/upstreams/sirene-stock.ts generates it) and a geo-dvf
// full.csv.gz (the 40 documented columns, gzip level 1, as the real files are compressed).
const fs = require('node:fs');
const { once } = require('node:events');
const { crc32, createGzip } = require('node:zlib');
const { pipeline } = require('node:stream/promises');
const { Readable } = require('node:stream');

const BLOCK = 1024 * 1024;

function csvBlock(header, row) {
  const rows = [header];
  let length = header.length;
  for (let i = 0; length < BLOCK; i++) {
    const line = row(i);
    rows.push(line);
    length += line.length;
  }
  return Buffer.from(rows.join('')).subarray(0, BLOCK);
}

async function write(stream, chunk) {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

/** A zip of `bytes` bytes in all, holding StockEtablissement_utf8.csv stored (method 0). */
async function writeStockZip(file, bytes) {
  const name = Buffer.from('StockEtablissement_utf8.csv');
  const csvBytes = bytes - (30 + name.length + 16 + 46 + name.length + 22);
  const block = csvBlock(
    'siren,nic,siret,statutDiffusionEtablissement,dateCreationEtablissement,activitePrincipaleEtablissement\n',
    (i) =>
      `${String(300000000 + i).slice(0, 9)},00012,${String(300000000 + i).slice(0, 9)}00012,O,2001-01-15,62.01Z\n`,
  );
  const out = fs.createWriteStream(file);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(0x0008, 6);
  local.writeUInt16LE(name.length, 26);
  await write(out, Buffer.concat([local, name]));
  let crc = 0;
  for (let left = csvBytes; left > 0; left -= BLOCK) {
    const chunk = left >= BLOCK ? block : block.subarray(0, left);
    crc = crc32(chunk, crc);
    await write(out, chunk);
  }
  const tail = Buffer.alloc(16 + 46 + name.length + 22);
  tail.writeUInt32LE(0x08074b50, 0);
  tail.writeUInt32LE(crc >>> 0, 4);
  tail.writeUInt32LE(csvBytes, 8);
  tail.writeUInt32LE(csvBytes, 12);
  const c = 16;
  tail.writeUInt32LE(0x02014b50, c);
  tail.writeUInt16LE(20, c + 4);
  tail.writeUInt16LE(20, c + 6);
  tail.writeUInt16LE(0x0008, c + 8);
  tail.writeUInt32LE(crc >>> 0, c + 16);
  tail.writeUInt32LE(csvBytes, c + 20);
  tail.writeUInt32LE(csvBytes, c + 24);
  tail.writeUInt16LE(name.length, c + 28);
  name.copy(tail, c + 46);
  const e = c + 46 + name.length;
  tail.writeUInt32LE(0x06054b50, e);
  tail.writeUInt16LE(1, e + 8);
  tail.writeUInt16LE(1, e + 10);
  tail.writeUInt32LE(46 + name.length, e + 12);
  tail.writeUInt32LE(30 + name.length + csvBytes + 16, e + 16);
  await write(out, tail);
  out.end();
  await once(out, 'close');
}

/** A gzipped geo-dvf CSV of about `bytes` compressed bytes; answers its row count. */
async function writeDvfGz(file, bytes, columns) {
  const fields = (i) =>
    [
      `2024-${i}`,
      `2024-07-${String(1 + (i % 28)).padStart(2, '0')}`,
      '000001',
      'Vente',
      String(100000 + ((i * 7919) % 900000)),
      String(i % 120),
      '',
      `RUE ${i % 977}`,
      'B064',
      '01560',
      String(1000 + (i % 900)).padStart(5, '0'),
      'Commune',
      '01',
      '',
      '',
      `01${String(i % 1000).padStart(3, '0')}000AB${String(i % 10000).padStart(4, '0')}`,
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      '0',
      '2',
      'Appartement',
      String(20 + (i % 100)),
      String(1 + (i % 6)),
      'S',
      'sols',
      '',
      '',
      String(i % 500),
      (2.3 + (i % 1000) / 10000).toFixed(6),
      (48.8 + (i % 1000) / 10000).toFixed(6),
    ].join(',') + '\n';
  let rows = 0;
  let written = 0;
  const gzip = createGzip({ level: 1 });
  gzip.on('data', (c) => (written += c.length));
  const source = Readable.from(
    (function* () {
      yield columns.join(',') + '\n';
      while (written < bytes) {
        let chunk = '';
        for (let i = 0; i < 2000; i++) chunk += fields(rows++);
        yield chunk;
      }
    })(),
  );
  await pipeline(source, gzip, fs.createWriteStream(file));
  return rows;
}

module.exports = { writeStockZip, writeDvfGz };
