import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LineReader, OVERFLOW } from '../../src/net/lines.js';

/** Every result until the reader has no complete line, lines as latin1 strings. */
function drain(r: LineReader): (string | 'OVERFLOW')[] {
  const out: (string | 'OVERFLOW')[] = [];
  for (;;) {
    const l = r.next();
    if (l === null) return out;
    out.push(l === OVERFLOW ? 'OVERFLOW' : l.toString('latin1'));
  }
}

function feed(r: LineReader, ...chunks: string[]): (string | 'OVERFLOW')[] {
  const out: (string | 'OVERFLOW')[] = [];
  for (const c of chunks) {
    r.push(Buffer.from(c, 'latin1'));
    out.push(...drain(r));
  }
  return out;
}

test('several lines in one chunk (pipelining), CRLF and bare LF', () => {
  const r = new LineReader(255);
  assert.deepEqual(feed(r, 'USER a\r\nPASS b\nSTAT\r\nQU'), ['USER a', 'PASS b', 'STAT']);
  assert.equal(r.buffered, 2);
  assert.deepEqual(feed(r, 'IT\r\n'), ['QUIT']);
  assert.equal(r.buffered, 0);
});

test('a line split across many chunks, CR and LF in different chunks', () => {
  const r = new LineReader(255);
  assert.deepEqual(feed(r, 'RE', 'TR', ' 1', '\r'), []);
  assert.deepEqual(feed(r, '\nNOOP\r\n'), ['RETR 1', 'NOOP']);
});

test('empty lines are lines', () => {
  const r = new LineReader(10);
  assert.deepEqual(feed(r, '\r\n\n\r\nx\n'), ['', '', '', 'x']);
});

test('a line of exactly maxLine passes; one more octet overflows once and is discarded to its end', () => {
  const r = new LineReader(5);
  assert.deepEqual(feed(r, '12345\r\n'), ['12345']);
  assert.deepEqual(feed(r, '123456\r\nok\r\n'), ['OVERFLOW', 'ok']);
  // Over-long across chunks: reported once, as soon as it is known, then skipped.
  assert.deepEqual(feed(r, 'abcdefg'), ['OVERFLOW']);
  assert.deepEqual(feed(r, 'hijklmnopqrstuvwxyz'), []);
  assert.equal(r.buffered, 0, 'discarded input is not kept');
  assert.deepEqual(feed(r, 'xyz\r\nnext\r\n'), ['next']);
});

test('maxLine with the CR still waiting for its LF is not an overflow', () => {
  const r = new LineReader(3);
  assert.deepEqual(feed(r, 'abc\r'), []);
  assert.deepEqual(feed(r, '\n'), ['abc']);
});

test('clear() forgets buffered lines and partial input (STARTTLS)', () => {
  const r = new LineReader(255);
  r.push(Buffer.from('STLS\r\nUSER evil\r\nPA'));
  assert.equal(r.next()?.toString(), 'STLS');
  r.clear();
  assert.equal(r.next(), null);
  assert.equal(r.buffered, 0);
  assert.deepEqual(feed(r, 'CAPA\r\n'), ['CAPA']);
});

test('lines come out the same however the input is split (property)', () => {
  const lineArb = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '.', '\r'), maxLength: 12 });
  fc.assert(
    fc.property(
      fc.array(lineArb, { maxLength: 20 }),
      fc.array(fc.nat(40), { maxLength: 10 }),
      (lines, cuts) => {
        const max = 8;
        const text = lines.map((l) => `${l}\r\n`).join('');
        const expected = lines.map((l) => (l.length > max ? 'OVERFLOW' : l));
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let last = 0;
        for (const p of points) {
          chunks.push(text.slice(last, p));
          last = p;
        }
        chunks.push(text.slice(last));
        assert.deepEqual(feed(new LineReader(max), ...chunks), expected);
      },
    ),
    { numRuns: 500 },
  );
});
