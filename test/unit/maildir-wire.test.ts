import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  encode,
  finish,
  initialState,
  inPlaceOffset,
  maxOutput,
  measure,
  type WireOptions,
} from '../../modules/pop3/maildir/wire.js';

// A second, naive implementation of the documented rules, on latin1 strings.
function reference(data: Buffer, opts: WireOptions, lines: number | null): string {
  let s = data.toString('latin1');
  if (opts.stripNul) s = s.replaceAll('\0', '');
  s = s.replace(/\r?\n/g, '\r\n');
  const parts = s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  let out = '';
  let inBody = false;
  let body = 0;
  let done = false;
  for (const p of parts) {
    out += p.endsWith('\n') ? p : `${p}\r\n`;
    if (!inBody) {
      if (p === '\r\n') {
        inBody = true;
        if (lines === 0) done = true;
      }
    } else if (lines !== null && ++body >= lines) {
      done = true;
    }
    if (done) break;
  }
  if (!done && opts.ensureHeaderEnd && !inBody && out.length > 0) out += '\r\n';
  return out;
}

function stuff(s: string): string {
  return s.replace(/(^|\n)\./g, '$1..');
}

function run(
  data: Buffer,
  cuts: number[],
  opts: WireOptions,
  lines: number | null,
  inPlace = false,
): { out: string; size: number } {
  const st = initialState();
  const pieces: Buffer[] = [];
  let pos = 0;
  const bounds = [...cuts.filter((c) => c > 0 && c < data.length).sort((a, b) => a - b), data.length];
  for (const end of bounds) {
    let chunk = data.subarray(pos, end);
    const out = Buffer.alloc(maxOutput(chunk.length));
    if (inPlace) {
      // The stored bytes inside the output buffer, where the Maildir read task puts them.
      const at = inPlaceOffset(0, chunk.length);
      chunk.copy(out, at);
      chunk = out.subarray(at, at + chunk.length);
    }
    let n = encode(st, chunk, out, 0, lines, opts);
    if (end === data.length) n = finish(st, out, n, opts);
    pieces.push(out.subarray(0, n));
    pos = end;
  }
  return { out: Buffer.concat(pieces).toString('latin1'), size: st.size };
}

const bytes = fc
  .array(fc.constantFrom('a', 'b', '.', '\n', '\r', '\0', 'Subject: x', '\n\n', '\r\n', '..', '\xe9'), {
    maxLength: 60,
  })
  .map((a) => Buffer.from(a.join(''), 'latin1'));
const options = fc.record({ stripNul: fc.boolean(), ensureHeaderEnd: fc.boolean() });
const lineLimit = fc.option(fc.nat(5), { nil: null });

test('chunked encoding equals the reference rules, dot-stuffed, whatever the chunk boundaries', () => {
  fc.assert(
    fc.property(
      bytes,
      fc.array(fc.nat(70), { maxLength: 6 }),
      options,
      lineLimit,
      fc.boolean(),
      (data, cuts, opts, lines, inPlace) => {
        const want = reference(data, opts, lines);
        const got = run(data, cuts, opts, lines, inPlace);
        assert.equal(got.out, stuff(want));
        assert.equal(
          got.size,
          Buffer.byteLength(want, 'latin1'),
          'size counts the bytes before dot-stuffing',
        );
      },
    ),
    { numRuns: 3000 },
  );
});

test('the measured size is exactly the RETR payload size', () => {
  fc.assert(
    fc.property(bytes, options, (data, opts) => {
      assert.equal(measure(data, opts).size, Buffer.byteLength(reference(data, opts, null), 'latin1'));
    }),
    { numRuns: 1000 },
  );
});

const plain: WireOptions = { stripNul: false, ensureHeaderEnd: false };

test('examples: bare LF, kept CRLF, final CRLF added, dot lines doubled, lone CR kept', () => {
  assert.equal(
    run(Buffer.from('A: b\n\nx\n.y\n.\nlast'), [], plain, null).out,
    'A: b\r\n\r\nx\r\n..y\r\n..\r\nlast\r\n',
  );
  assert.equal(run(Buffer.from('A: b\r\n\r\nx\r\n'), [], plain, null).out, 'A: b\r\n\r\nx\r\n');
  assert.equal(run(Buffer.from('a\rb\n'), [], plain, null).out, 'a\rb\r\n');
  assert.equal(run(Buffer.from(''), [], plain, null).out, '');
  assert.equal(run(Buffer.from('x\r'), [], plain, null).out, 'x\r\r\n');
});

test('in place, the worst case (every line a lone dot) fits and never overwrites unread input', () => {
  const data = Buffer.from('.\n'.repeat(1000), 'latin1');
  const want = '..\r\n'.repeat(1000);
  assert.equal(run(data, [], plain, null, true).out, want);
  assert.equal(run(data, [1, 777, 1501], plain, null, true).out, want);
  const buf = Buffer.alloc(100);
  assert.throws(() => encode(initialState(), buf.subarray(10, 20), buf, 5, null, plain), RangeError);
});

test('TOP: header, blank line, n body lines; header-only message whole', () => {
  const m = Buffer.from('A: 1\nB: 2\n\nl1\nl2\nl3\nl4');
  assert.equal(run(m, [], plain, 0).out, 'A: 1\r\nB: 2\r\n\r\n');
  assert.equal(run(m, [], plain, 2).out, 'A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n');
  assert.equal(run(m, [], plain, 10).out, 'A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n');
  const h = Buffer.from('A: 1\nB: 2\n');
  assert.equal(run(h, [], plain, 0).out, 'A: 1\r\nB: 2\r\n');
  assert.equal(run(h, [], { stripNul: false, ensureHeaderEnd: true }, 0).out, 'A: 1\r\nB: 2\r\n\r\n');
});

test('workarounds change the size the same way they change the bytes', () => {
  const m = Buffer.from('A: 1\0\nB: 2');
  const o = { stripNul: true, ensureHeaderEnd: true };
  const r = run(m, [], o, null);
  assert.equal(r.out, 'A: 1\r\nB: 2\r\n\r\n');
  assert.equal(measure(m, o).size, r.out.length);
  assert.equal(measure(m, plain).size, 'A: 1\0\r\nB: 2\r\n'.length);
});
