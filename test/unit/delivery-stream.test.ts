// `host deliver` reads standard input in arbitrary chunks: line ends split across chunks, bare CRs,
// a From_ envelope line, a missing final newline must all come out the same.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { feedStream } from '../../src/delivery/command.js';
import { MaildirDelivery } from '../../src/delivery/deliver.js';
import { sizeFromName } from '../../src/delivery/name.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const workers = createWorkerPool({ minThreads: 1, maxThreads: 2, idleTimeoutMs: 1000 });
const root = mkdtempSync(join(tmpdir(), 'delivery-stream-'));
for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(root, sub));
after(async () => {
  rmSync(root, { recursive: true, force: true });
  await workers.close();
});

async function* chunks(data: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let pos = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c > pos && c < data.length) {
      yield data.subarray(pos, c);
      pos = c;
    }
  }
  if (pos < data.length) yield data.subarray(pos);
}

async function store(data: Buffer, cuts: number[]): Promise<{ stored: string; size: number | undefined }> {
  const d = new MaildirDelivery([{ address: 'u', maildir: root }], { workers, session: { delays: 0 } });
  await feedStream(d, chunks(data, cuts));
  const [o] = await d.finish();
  assert.ok(o.ok, JSON.stringify(o));
  return { stored: readFileSync(o.path, 'latin1'), size: sizeFromName(o.path) };
}

/** The reference: every line end (CR* LF) becomes LF, a final LF added, line 1 dropped if From_. */
function expected(text: string): string {
  let t = text.startsWith('From ') ? text.slice(text.indexOf('\n') + 1 || text.length) : text;
  t = t.replace(/\r*\n/g, '\n').replace(/\r+$/, '');
  return t === '' || t.endsWith('\n') ? t : `${t}\n`;
}

test('CRLF split across chunks, bare CR kept inside a line, no final newline', async () => {
  const text = 'A: 1\r\nB: 2\r\n\r\nx\ry\r\r\nlast';
  const { stored, size } = await store(Buffer.from(text, 'latin1'), [5, 6, 17, 18, 19]);
  assert.equal(stored, 'A: 1\nB: 2\n\nx\ry\nlast\n');
  assert.equal(size, Buffer.byteLength(stored.replace(/\n/g, '\r\n')));
});

test('a From_ line is removed even when it arrives a byte at a time', async () => {
  const text = 'From a@b Mon Nov 23 10:00:00 2026\nSubject: s\n\nbody\n';
  const { stored } = await store(
    Buffer.from(text),
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
  assert.equal(stored, 'Subject: s\n\nbody\n');
});

test('property: any text cut anywhere stores as the reference, with an exact Z size', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.stringMatching(/^(From x\n)?[ab.\r\n]{0,60}$/),
      fc.array(fc.nat(80), { maxLength: 8 }),
      async (text, cuts) => {
        const { stored, size } = await store(Buffer.from(text, 'latin1'), cuts);
        assert.equal(stored, expected(text));
        assert.equal(size, Buffer.byteLength(stored.replace(/\n/g, '\r\n'), 'latin1'));
      },
    ),
    { numRuns: 150 },
  );
});
