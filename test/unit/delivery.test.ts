import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FAILURES, failureFromCode, MaildirDelivery } from '../../src/delivery/deliver.js';
import { MAX_BASE_NAME, maildirName, sanitizeHost, sizeFromName } from '../../src/delivery/name.js';
import { sweepTmp, write } from '../../src/delivery/tasks.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const workers = createWorkerPool({ minThreads: 1, maxThreads: 4, idleTimeoutMs: 1000 });
let root: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'delivery-unit-'));
});
after(async () => {
  rmSync(root, { recursive: true, force: true });
  await workers.close();
});

let n = 0;
function maildir(create = true): string {
  const dir = join(root, `md${n++}`);
  if (create) for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(dir, sub), { recursive: true });
  return dir;
}

/** What POP3 RETR sends before dot-stuffing: LF → CRLF. */
function crlfOf(stored: Buffer): Buffer {
  return Buffer.from(stored.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
}

/** Feeds raw text as lines (the LMTP reader's way: line ends removed). */
async function deliverText(d: MaildirDelivery, text: string): Promise<void> {
  const parts = text.split('\n');
  const last = parts.pop()!;
  for (const p of parts) await d.line(Buffer.from(p, 'latin1'));
  if (last !== '') await d.append(Buffer.from(last, 'latin1'), false);
}

test('names: at most 70 characters, Z size in the middle part, host encoded', () => {
  const long = 'a-very-long-host-name.with.many.labels.example.com/evil:name,S=1';
  for (const size of [0, 1, 4096, 25 * 1024 * 1024, 0xffffffff, Number.MAX_SAFE_INTEGER]) {
    const name = maildirName(size, { host: long });
    assert.ok(name.length <= MAX_BASE_NAME, `${name} is ${name.length} chars`);
    assert.equal(sizeFromName(name), size);
    assert.match(name, /^\d+\.M\d+P\d+Q\d+R[0-9a-f]{8}Z[0-9A-F]+(\.[\x21-\x7e]*)?$/);
    assert.ok(!name.includes(':') && !name.includes('/') && !name.includes(','));
  }
  assert.equal(sanitizeHost('a/b:c'), 'a\\057b\\072c');
  // Truncation never leaves half an escape.
  const name = maildirName(1, { host: '/'.repeat(40) });
  assert.match(name.split('.').slice(2).join('.'), /^(\\057)*$/);
  assert.equal(sizeFromName(`${maildirName(0x1f4, { host: 'h' })}:2,S`), 0x1f4);
});

test('names: 200k in a tight loop are all distinct', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200_000; i++) seen.add(maildirName(10, { nowMs: 1_700_000_000_000 }));
  assert.equal(seen.size, 200_000);
});

test('CRLF input is stored with LF; the Z size equals the CRLF size; a final line end is added', async () => {
  const dir = maildir();
  const session = { delays: 0 };
  const d = new MaildirDelivery([{ address: 'a@x', maildir: dir }], { workers, session });
  await deliverText(d, 'Subject: hi\r\n\r\nbody line\r\nno final newline');
  const [o] = await d.finish();
  assert.ok(o.ok, JSON.stringify(o));
  const stored = readFileSync(o.path);
  assert.equal(stored.toString(), 'Subject: hi\n\nbody line\nno final newline\n');
  const name = o.path.split('/').pop()!;
  assert.equal(sizeFromName(name), crlfOf(stored).length);
  assert.equal(sizeFromName(name), 'Subject: hi\r\n\r\nbody line\r\nno final newline\r\n'.length);
  assert.ok(name.length <= MAX_BASE_NAME);
  assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'tmp/ is empty after delivery');
  assert.equal(session.delays, 1, 'a message that fits in one chunk costs one hand-off');
});

test('trailing CRs (CR CR LF) do not leave CR before LF in storage; the size still agrees', async () => {
  const dir = maildir();
  const d = new MaildirDelivery([{ address: 'a@x', maildir: dir }], { workers, session: { delays: 0 } });
  await d.line(Buffer.from('A: b\r'));
  await d.line(Buffer.from(''));
  await d.line(Buffer.from('x\ry'));
  const [o] = await d.finish();
  assert.ok(o.ok);
  const stored = readFileSync(o.path);
  assert.equal(stored.toString('latin1'), 'A: b\n\nx\ry\n');
  assert.equal(sizeFromName(o.path), crlfOf(stored).length);
});

test('a large message streams in chunks (many hand-offs) and its size is exact', async () => {
  const dir = maildir();
  const session = { delays: 0 };
  const d = new MaildirDelivery([{ address: 'a@x', maildir: dir }], { workers, session });
  const line = Buffer.from('x'.repeat(76));
  for (let i = 0; i < 60_000; i++) await d.line(line); // ~4.6 MB
  const [o] = await d.finish();
  assert.ok(o.ok);
  assert.equal(statSync(o.path).size, 77 * 60_000);
  assert.equal(sizeFromName(o.path), 78 * 60_000);
  assert.ok(session.delays > 10, `chunk writes are hand-offs (${session.delays})`);
});

test('multi-recipient: written once, hard-linked into each new/; the same Maildir twice gets two files', async () => {
  const a = maildir();
  const b = maildir();
  const d = new MaildirDelivery(
    [
      { address: 'a@x', maildir: a },
      { address: 'b@x', maildir: b },
      { address: 'b2@x', maildir: b },
    ],
    { workers, session: { delays: 0 }, prefix: 'Return-Path: <s@y>\n' },
  );
  await deliverText(d, 'Subject: multi\n\nhello\n');
  const out = await d.finish();
  assert.ok(
    out.every((o) => o.ok),
    JSON.stringify(out),
  );
  const paths = out.map((o) => (o.ok ? o.path : ''));
  assert.equal(new Set(paths).size, 3);
  assert.equal(statSync(paths[0]).ino, statSync(paths[1]).ino, 'hard link, not a copy');
  assert.equal(readdirSync(join(b, 'new')).length, 2);
  assert.equal(readFileSync(paths[2], 'utf8'), 'Return-Path: <s@y>\nSubject: multi\n\nhello\n');
  for (const p of paths) assert.equal(sizeFromName(p), crlfOf(readFileSync(p)).length);
});

test('a missing Maildir: temporary failure for that recipient only; create_maildir creates it', async () => {
  const ok = maildir();
  const missing = maildir(false);
  const d = new MaildirDelivery(
    [
      { address: 'm@x', maildir: missing },
      { address: 'o@x', maildir: ok },
    ],
    { workers, session: { delays: 0 } },
  );
  await deliverText(d, 'x\n');
  const [m, o] = await d.finish();
  assert.equal(m.ok, false);
  assert.equal(!m.ok && m.failure.kind, 'temporary');
  assert.ok(o.ok);
  assert.equal(existsSync(missing), false);

  const d2 = new MaildirDelivery([{ address: 'm@x', maildir: missing }], {
    workers,
    session: { delays: 0 },
    createMaildir: true,
  });
  await deliverText(d2, 'y\n');
  const [m2] = await d2.finish();
  assert.ok(m2.ok);
  for (const sub of ['tmp', 'new', 'cur']) assert.ok(statSync(join(missing, sub)).isDirectory());
});

test('too big: refused as a whole, nothing left in tmp/ or new/', async () => {
  const dir = maildir();
  const d = new MaildirDelivery([{ address: 'a@x', maildir: dir }], {
    workers,
    session: { delays: 0 },
    maxSize: 1000,
  });
  for (let i = 0; i < 100; i++) await d.line(Buffer.from('y'.repeat(50)));
  assert.deepEqual(d.refused, FAILURES.tooBig);
  const [o] = await d.finish();
  assert.equal(!o.ok && o.failure.status, '5.3.4');
  assert.deepEqual(readdirSync(join(dir, 'new')), []);
  assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
});

test('abort removes the tmp file and delivers nothing', async () => {
  const dir = maildir();
  const d = new MaildirDelivery([{ address: 'a@x', maildir: dir }], { workers, session: { delays: 0 } });
  for (let i = 0; i < 5000; i++) await d.line(Buffer.from('z'.repeat(100)));
  await d.abort();
  assert.deepEqual(readdirSync(join(dir, 'new')), []);
  assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
});

test('disk full and quota errors are temporary with their own status codes', () => {
  const fd = openSync('/dev/full', 'w');
  try {
    const r = write({ fd, data: new ArrayBuffer(16), length: 16 });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  assert.deepEqual(failureFromCode('ENOSPC', ''), {
    kind: 'temporary',
    status: '4.3.1',
    reason: 'insufficient system storage',
  });
  assert.equal(failureFromCode('EDQUOT', '').status, '4.2.2');
  assert.equal(failureFromCode('EDQUOT', '').kind, 'temporary');
});

test('tmp/ sweep removes only files untouched for 36 hours; a delivery triggers it', async () => {
  const dir = maildir();
  const old = join(dir, 'tmp', 'old');
  const fresh = join(dir, 'tmp', 'fresh');
  writeFileSync(old, 'x');
  writeFileSync(fresh, 'y');
  const past = (Date.now() - 37 * 3600_000) / 1000;
  utimesSync(old, past, past);
  assert.equal(sweepTmp({ maildir: dir, maxAgeMs: 36 * 3600_000, nowMs: Date.now() }), 1);
  assert.deepEqual(readdirSync(join(dir, 'tmp')), ['fresh']);

  const dir2 = maildir();
  const old2 = join(dir2, 'tmp', 'old');
  writeFileSync(old2, 'x');
  utimesSync(old2, past, past);
  const d = new MaildirDelivery([{ address: 'a@x', maildir: dir2 }], { workers, session: { delays: 0 } });
  await deliverText(d, 'm\n');
  assert.ok((await d.finish())[0].ok);
  assert.deepEqual(readdirSync(join(dir2, 'tmp')), []);
});

test('a Maildir on another filesystem gets a copy (link() fails with EXDEV), still never half-written', async (t) => {
  if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(root).dev) {
    t.skip('no second filesystem (/dev/shm) here');
    return;
  }
  const other = mkdtempSync(join('/dev/shm', 'delivery-exdev-'));
  try {
    for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(other, sub));
    const here = maildir();
    const d = new MaildirDelivery(
      [
        { address: 'a@x', maildir: here },
        { address: 'b@x', maildir: other },
      ],
      { workers, session: { delays: 0 } },
    );
    await deliverText(d, 'Subject: across\n\nbody\n');
    const [a, b] = await d.finish();
    assert.ok(a.ok && b.ok, JSON.stringify([a, b]));
    assert.notEqual(statSync(a.path).dev, statSync(b.path).dev);
    assert.equal(readFileSync(b.path, 'utf8'), 'Subject: across\n\nbody\n');
    assert.deepEqual(readdirSync(join(other, 'tmp')), []);
    assert.deepEqual(readdirSync(join(here, 'tmp')), []);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test('a 100 KB message grows the first buffer instead of writing early: still one hand-off', async () => {
  const dir = maildir();
  const session = { delays: 0 };
  const d = new MaildirDelivery([{ address: 'a@x', maildir: dir }], { workers, session });
  for (let i = 0; i < 1000; i++) await d.line(Buffer.from(`${String(i).padStart(5, '0')}${'q'.repeat(94)}`));
  const [o] = await d.finish();
  assert.ok(o.ok);
  assert.equal(session.delays, 1);
  const stored = readFileSync(o.path, 'latin1');
  assert.equal(stored.length, 100 * 1000);
  assert.equal(stored.split('\n')[999].slice(0, 5), '00999');
  assert.equal(sizeFromName(o.path), 101 * 1000);
});
