import { gzipSync } from 'node:zlib';
import { DVF_COLUMNS, GzipCsvInspector, type CsvStats } from '../../collectors/dvf/csv-rows';
import { dvfCsv, dvfRow } from '../support/upstreams/dvf';

const HEADER = DVF_COLUMNS.join(',');

/** Feeds `gz` to an inspector in pieces of `piece` bytes, as a download would. */
async function inspect(gz: Buffer, piece: number, countRows = true): Promise<CsvStats> {
  const inspector = new GzipCsvInspector('test.csv.gz', countRows);
  for (let at = 0; at < gz.length; at += piece) await inspector.write(gz.subarray(at, at + piece));
  return inspector.end();
}

// Rows 1 to 3 have no quoted newline; row 11 has one ("RUE DE\nLA PAIX"), see dvfRow.
const row = (i: number) => dvfRow(2024, '75', i);

describe('GzipCsvInspector row counts', () => {
  const cases: [string, string, number][] = [
    ['rows ending in a newline', dvfCsv(2024, '75', 1000), 1000],
    ['a last line without newline', `${HEADER}\n${row(1)}\n${row(2)}`, 2],
    ['CRLF line ends', `${HEADER}\r\n${row(1)}\r\n${row(2)}\r\n${row(3)}\r\n`, 3],
    ['CRLF and a last line without newline', `${HEADER}\r\n${row(1)}\r\n${row(2)}`, 2],
    ['a header only', `${HEADER}\n`, 0],
    ['a header without newline', HEADER, 0],
    ['a byte-order mark before the header', `\uFEFF${HEADER}\n${row(1)}\n`, 1],
    ['a newline inside quotes (RFC 4180)', `${HEADER}\n${row(11)}\n${row(1)}\n`, 2],
    ['an empty line at the end', `${HEADER}\n${row(1)}\n\n`, 2],
  ];

  it.each(cases)('counts %s, whatever the piece size', async (_name, csv, rows) => {
    const gz = gzipSync(Buffer.from(csv));
    for (const piece of [1, 7, 4096, gz.length]) {
      expect(await inspect(gz, piece)).toEqual({ rows, csvBytes: Buffer.byteLength(csv) });
    }
  });

  it('counts millions of rows spread over many inflated chunks exactly', async () => {
    const rows = 60_000;
    const csv = dvfCsv(2024, '13', rows);
    const gz = gzipSync(Buffer.from(csv), { level: 1 });
    expect(Buffer.byteLength(csv)).toBeGreaterThan(3 * 1024 * 1024);
    expect(await inspect(gz, 65_536)).toEqual({ rows, csvBytes: Buffer.byteLength(csv) });
  });

  it('with countRows false, checks the header and counts nothing', async () => {
    const gz = gzipSync(Buffer.from(dvfCsv(2024, '75', 500)));
    expect(await inspect(gz, 1024, false)).toEqual({ rows: null, csvBytes: null });
  });

  it('refuses a file whose header is not geo-dvf’s, naming the column', async () => {
    const gz = gzipSync(Buffer.from(`id_mutation,date,foo\n1,2,3\n`));
    await expect(inspect(gz, 16)).rejects.toThrow(/header column 2 is "date", expected "date_mutation"/);
  });
});
