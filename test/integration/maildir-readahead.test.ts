// RETR read-ahead of the Maildir store: whole following messages come with one read, are sent
// byte for byte as a read of their own would send them, and never stand in for TOP.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { valueSymbol } from 'piscina';
import { createMaildirStore } from '../../modules/pop3/maildir/store.js';
import { readWindow } from '../../modules/pop3/maildir/tasks.js';
import type { WindowOutput } from '../../modules/pop3/read-ahead.js';
import type { Maildrop } from '../../modules/pop3/seams.js';
import { MAILDIR_CONFIG, storeFixture } from '../helpers/store-fixture.js';

const { log, pool, root } = storeFixture('maildir-ahead');

const cfg = MAILDIR_CONFIG;
const store = createMaildirStore(() => cfg, pool);

/** n messages in cur/, LF line ends, a dot line and no final newline in some. */
function maildir(n: number, body: (i: number) => string): string {
  const md = mkdtempSync(join(root, 'md-'));
  for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(md, s));
  for (let i = 0; i < n; i++) {
    writeFileSync(join(md, 'cur', `${1700000000 + i}.M${i}P1.host:2,S`), body(i));
  }
  return md;
}
const msg = (i: number) =>
  `Subject: m${i}\n\nline one\n.dot line\n${'x'.repeat(i * 37)}${i % 3 === 0 ? '' : '\n'}`;
/** What RETR must send (before the terminating line), from the stored text. */
function wire(text: string): string {
  let t = text.replace(/\r?\n/g, '\r\n');
  if (!t.endsWith('\r\n')) t += '\r\n';
  return t.replace(/(^|\r\n)\./g, '$1..');
}

/** A new Maildir opened, with the session its hand-offs are counted on. */
async function openNew(dir: string): Promise<{ dir: string; md: Maildrop; s: { delays: number } }> {
  const s = { delays: 0 };
  const r = await store.open(dir, { session: s, log });
  assert.ok(r.ok);
  return { dir, md: r.maildrop, s };
}

async function read(md: Maildrop, i: number, lines: number | null, s: { delays: number }): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of md.read(i, lines, s)) parts.push(c);
  return Buffer.concat(parts).toString('latin1');
}

test('RETR of every message in turn: exact bytes, far fewer hand-offs than messages', async () => {
  const n = 60;
  const { md, s } = await openNew(maildir(n, msg));
  const opened = s.delays;
  for (let i = 0; i < n; i++) {
    assert.equal(await read(md, i, null, s), wire(msg(i)), `message ${i + 1}`);
  }
  const reads = s.delays - opened;
  assert.ok(reads >= 2 && reads <= 10, `${n} small messages took ${reads} reads`);
  await md.release(s);
});

test('a long download in order: windows grow, bytes stay exact, few hand-offs', async () => {
  // 700 messages of 0.2-9 KB with read_chunk at its default (512 KB): the windows double from
  // 64 KB to 512 KB, and the workers' buffers grow on the way. Windows of 64 KB all along would
  // take about 50 reads.
  const n = 700;
  const body = (i: number) => `Subject: g${i}\n\n${`.${i} ${'z'.repeat(60)}\n`.repeat(3 + ((i * 37) % 140))}`;
  const big = createMaildirStore(() => ({ ...cfg, chunkSize: 524_288 }), pool);
  const s = { delays: 0 };
  const r = await big.open(maildir(n, body), { session: s, log });
  assert.ok(r.ok);
  const md = r.maildrop;
  const opened = s.delays;
  for (let i = 0; i < n; i++) assert.equal(await read(md, i, null, s), wire(body(i)), `message ${i + 1}`);
  const reads = s.delays - opened;
  assert.ok(reads >= 4 && reads <= 14, `${n} messages took ${reads} reads`);
  await md.release(s);
});

test('TOP never uses the read-ahead; messages out of order and a renamed one are still exact', async () => {
  const { dir, md, s } = await openNew(maildir(10, msg));
  assert.equal(await read(md, 0, null, s), wire(msg(0))); // window: 2..10
  assert.equal(await read(md, 1, 0, s), 'Subject: m1\r\n\r\n', 'TOP 0 of a message in the window');
  // Flags changed by another program after the window was read: the window still serves it.
  renameSync(join(dir, 'cur', '1700000002.M2P1.host:2,S'), join(dir, 'cur', '1700000002.M2P1.host:2,RS'));
  assert.equal(await read(md, 2, null, s), wire(msg(2)));
  assert.equal(await read(md, 5, null, s), wire(msg(5)));
  assert.equal(await read(md, 1, null, s), wire(msg(1)));
  await md.release(s);
});

test('a window stops at a file that is gone, which then answers as gone on its own read', async () => {
  const { dir, md, s } = await openNew(maildir(6, msg));
  unlinkSync(join(dir, 'cur', '1700000003.M3P1.host:2,S'));
  assert.equal(await read(md, 0, null, s), wire(msg(0))); // window: 2, 3 (stops at 4)
  assert.equal(await read(md, 2, null, s), wire(msg(2)));
  await assert.rejects(read(md, 3, null, s), /gone/);
  assert.equal(await read(md, 4, null, s), wire(msg(4)));
  await md.release(s);
});

test('a message larger than the window is read on its own, in chunks', async () => {
  const big = (i: number) => (i === 1 ? `Subject: big\n\n${'y'.repeat(100)}\n`.repeat(2000) : msg(i));
  const { md, s } = await openNew(maildir(3, big));
  for (let i = 0; i < 3; i++) assert.equal(await read(md, i, null, s), wire(big(i)), `message ${i + 1}`);
  await md.release(s);
});

test('a recycled chunk is refilled by a later read; every byte stays exact', async () => {
  const text = `Subject: long\n\n${'.z'.repeat(60)}\n${'w'.repeat(90)}\n`.repeat(4000); // ~600 KB
  const { md, s } = await openNew(maildir(1, () => text));
  assert.ok(md.recycle);
  const copies: Buffer[] = [];
  const handedBack: Buffer[] = [];
  for await (const chunk of md.read(0, null, s)) {
    copies.push(Buffer.from(chunk)); // a copy: the original goes back to the store
    md.recycle(chunk);
    handedBack.push(chunk);
  }
  assert.equal(Buffer.concat(copies).toString('latin1'), wire(text));
  assert.ok(copies.length >= 8, `${copies.length} chunks of 64 KB`);
  // A recycled buffer travels to a worker again: its memory is detached here.
  const moved = handedBack.filter((b) => b.buffer.byteLength === 0).length;
  assert.ok(moved >= copies.length - 3, `${moved} of ${copies.length} chunks went back to a worker`);
  // Read again: the pool's buffers serve it, and the bytes are still exact.
  const again: Buffer[] = [];
  for await (const chunk of md.read(0, null, s)) {
    again.push(Buffer.from(chunk));
    md.recycle(chunk);
  }
  assert.equal(Buffer.concat(again).toString('latin1'), wire(text));
  await md.release(s);
});

test('readCached: the window answers without waiting, and the next one is read before it is asked for', async () => {
  const n = 100;
  // ~20 bytes a message: 32 a window.
  const { md, s } = await openNew(maildir(n, (i) => `Subject: m${i}\n\n${'.'.repeat(i % 5)}x\n`));
  assert.ok(md.readCached);
  assert.equal(md.readCached(0, s), undefined, 'nothing is read ahead before the first RETR');
  assert.equal(await read(md, 0, null, s), wire(`Subject: m0\n\nx\n`));
  const afterFirst = s.delays;
  let waited = 0;
  for (let i = 1; i < n; i++) {
    let got = md.readCached(i, s);
    if (got === undefined) {
      // Only when the background read has not come back yet: it must come without another RETR.
      waited++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      got = md.readCached(i, s);
    }
    assert.ok(got !== undefined, `message ${i + 1} read ahead`);
    assert.equal(
      got.toString('latin1'),
      wire(`Subject: m${i}\n\n${'.'.repeat(i % 5)}x\n`),
      `message ${i + 1}`,
    );
  }
  // 99 messages after the first: the first window held 32, each background read 32 more.
  const refills = s.delays - afterFirst;
  assert.ok(refills >= 2 && refills <= 3, `${refills} background reads`);
  assert.ok(waited <= refills, `waited ${waited} times`);
  assert.equal(md.readCached(n - 1, s), undefined, 'a message is taken once');
  await md.release(s);
});

test('a read out of order while the next window is being read: every message stays exact', async () => {
  const n = 80;
  const { md, s } = await openNew(maildir(n, msg));
  assert.ok(md.readCached);
  assert.equal(await read(md, 0, null, s), wire(msg(0)));
  // Take the window until it runs low: the refill starts; then jump back before it lands.
  let i = 1;
  while (md.readCached(i, s) !== undefined) i++;
  const jumpedTo = 3;
  assert.equal(await read(md, jumpedTo, null, s), wire(msg(jumpedTo)));
  await new Promise((resolve) => setTimeout(resolve, 50));
  // What is cached now is the window after message 4, not the refill that was in flight.
  const next = md.readCached(jumpedTo + 1, s);
  assert.ok(next !== undefined);
  assert.equal(next.toString('latin1'), wire(msg(jumpedTo + 1)));
  for (let k = jumpedTo + 2; k < n; k++)
    assert.equal(await read(md, k, null, s), wire(msg(k)), `message ${k + 1}`);
  await md.release(s);
  assert.equal(md.readCached(n - 1, s), undefined, 'nothing is served after release');
});

test('a background window that needs more room than the task had: exact bytes', () => {
  // readWindow runs here, on this thread, whose scratch buffer starts at 128 KB: 40 messages of
  // about 4 KB need about 320 KB of room (the worst case of CRLF expansion), so it grows. It once
  // copied the window out of the buffer it had before growing: other bytes than the messages'.
  const n = 40;
  const body = (i: number) =>
    `Subject: w${i}\n\n${`.${String(i).padStart(3, '0')} ${'y'.repeat(70)}\n`.repeat(55)}`;
  const dir = maildir(n, body);
  const names = Array.from({ length: n }, (_, i) => `cur/${1700000000 + i}.M${i}P1.host:2,S`);
  const moved = readWindow({ dir, names, bytes: 1 << 20, wire: { stripNul: false, ensureHeaderEnd: false } });
  // What piscina would transfer: the result behind its movable wrapper.
  const w = (moved as unknown as Record<symbol, WindowOutput>)[valueSymbol];
  assert.equal(w.lengths.length, n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const got = Buffer.from(w.buf, at, w.lengths[i]).toString('latin1');
    assert.equal(got, wire(body(i)), `message ${i + 1} of the window`);
    at += w.lengths[i];
  }
});
