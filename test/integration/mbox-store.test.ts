// The mbox store on real temporary spool files, through a real worker pool: separation, >From
// quoting, exact sizes, stable UIDs, dotlock, and a delivery appended during a session surviving
// a QUIT with deletions.
import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { createMaildirStore } from '../../modules/pop3/maildir/store.js';
import { parseMbox, unquote } from '../../modules/pop3/mbox/parse.js';
import { createMboxStore, type MboxStoreConfig } from '../../modules/pop3/mbox/store.js';
import type { Maildrop, MaildropStore } from '../../modules/pop3/seams.js';
import { createStoreSelector } from '../../modules/pop3/store-select.js';
import { MAILDIR_CONFIG, storeFixture } from '../helpers/store-fixture.js';

const { log, pool, root } = storeFixture('mbox-store');

const base: MboxStoreConfig = {
  stripNul: false,
  ensureHeaderEnd: false,
  chunkSize: 4096,
  quoting: 'mboxrd',
  lockStaleMs: 60_000,
  dotlockWaitMs: 300,
  dotlockStaleMs: 60_000,
};
const storeWith = (over: Partial<MboxStoreConfig> = {}) => {
  const cfg = { ...base, ...over };
  return createMboxStore(() => cfg, pool);
};
const store = storeWith();

const FROM1 = 'From alice@example.com Tue Mar 27 16:57:44 2012\n';
const FROM2 = 'From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n';
const FROM3 = 'From bob@example.com Wed Jan  1 00:00:01 2025\n';
const M1 =
  'From: alice@example.com\nSubject: one\n\nHello\nFrom here a From inside a body, not after a blank line\n\n';
const M2 =
  'Subject: two\nStatus: RO\n\nbody\n\nFrom the desk of Bob: prose after a blank line\n>From quoted once\n>>From quoted twice\n.dot line\n';
const M3 = 'Subject: three\n\nno final newline';
const MBOX = `${FROM1}${M1}\n${FROM2}${M2}\n${FROM3}${M3}`;

/** What RETR must send for a stored message body (mboxrd unquoting, CRLF, final CRLF). */
function wire(stored: string, quoting: 'mboxrd' | 'mboxo' | 'none' = 'mboxrd'): Buffer {
  let s = stored
    .split('\n')
    .map((l) => {
      if (quoting === 'mboxrd' && /^>+From /.test(l)) return l.slice(1);
      if (quoting === 'mboxo' && /^>From /.test(l)) return l.slice(1);
      return l;
    })
    .join('\n')
    .replace(/\n/g, '\r\n');
  if (s.length > 0 && !s.endsWith('\r\n')) s += '\r\n';
  return Buffer.from(s, 'latin1');
}
/** The message as stored between its From_ line and the separating empty line. */
const STORED = [M1, M2, M3];

async function open(path: string, s = { delays: 0 }, st: MaildropStore = store): Promise<Maildrop> {
  const r = await st.open(path, { session: s, log });
  if (!r.ok) assert.fail(`open ${path}: ${JSON.stringify(r)}`);
  return r.maildrop;
}

async function retr(md: Maildrop, i: number, lines: number | null = null): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of md.read(i, lines, { delays: 0 })) parts.push(b);
  // Undo dot-stuffing to compare with the message bytes.
  return Buffer.from(Buffer.concat(parts).toString('latin1').replace(/^\./gm, ''), 'latin1');
}

function spool(name: string, content: string): string {
  const p = join(root, name);
  writeFileSync(p, content);
  return p;
}

test('parse: From_ lines split only after an empty line and when they look like From_ lines', () => {
  const msgs = parseMbox(Buffer.from(MBOX), { stripNul: false, ensureHeaderEnd: false }, 'mboxrd');
  assert.equal(msgs.length, 3);
  const data = Buffer.from(MBOX);
  assert.equal(data.toString('latin1', msgs[0].start, msgs[0].end), STORED[0]);
  assert.equal(data.toString('latin1', msgs[1].start, msgs[1].end), STORED[1]);
  assert.equal(data.toString('latin1', msgs[2].start, msgs[2].end), STORED[2]);
  for (let i = 0; i < 3; i++) assert.equal(msgs[i].size, wire(STORED[i]).length, `size of ${i + 1}`);
});

test('unquote: mboxrd takes one > from >+From lines, mboxo only from >From, none nothing', () => {
  const b = Buffer.from('>From a\n>>From b\n> From c\nx>From d\n');
  assert.equal(unquote(b, true, 'mboxrd').toString(), 'From a\n>From b\n> From c\nx>From d\n');
  assert.equal(unquote(b, true, 'mboxo').toString(), 'From a\n>>From b\n> From c\nx>From d\n');
  assert.equal(unquote(b, true, 'none'), b);
  // A chunk that starts inside a line leaves that line alone.
  assert.equal(unquote(Buffer.from('>From x\n>From y\n'), false, 'mboxrd').toString(), '>From x\nFrom y\n');
});

test('open lists exact CRLF sizes; RETR and TOP send unquoted CRLF bytes across small chunks', async () => {
  const p = spool('joe', MBOX);
  const s = { delays: 0 };
  const md = await open(p, s);
  assert.equal(s.delays, 1, 'one hand-off to open');
  assert.equal(md.messages.length, 3);
  for (let i = 0; i < 3; i++) {
    assert.equal(md.messages[i].size, wire(STORED[i]).length);
    assert.deepEqual(await retr(md, i), wire(STORED[i]), `RETR ${i + 1}`);
  }
  assert.equal(
    md.totalSize,
    md.messages.reduce((a, m) => a + m.size, 0),
  );
  assert.equal((await retr(md, 1, 0)).toString(), 'Subject: two\r\nStatus: RO\r\n\r\n');
  assert.equal((await retr(md, 1, 1)).toString(), 'Subject: two\r\nStatus: RO\r\n\r\nbody\r\n');
  // A long message read through many 4 KB chunks, with quoted lines around chunk boundaries.
  const body = Array.from({ length: 3000 }, (_, i) => (i % 7 === 0 ? `>From line ${i}` : `line ${i}`)).join(
    '\n',
  );
  const big = spool('big', `${FROM1}Subject: big\n\n${body}\n`);
  const bmd = await open(big);
  assert.deepEqual(await retr(bmd, 0), wire(`Subject: big\n\n${body}\n`));
  assert.equal(bmd.messages[0].size, wire(`Subject: big\n\n${body}\n`).length);
  await bmd.release({ delays: 0 });
  await md.release({ delays: 0 });
});

test('RETR of every message in turn: exact unquoted bytes from read-ahead windows, few hand-offs', async () => {
  const msgs = Array.from(
    { length: 80 },
    (_, i) => `Subject: m${i}\n\n${i % 3 === 0 ? '>From quoted\n' : ''}.dot ${i}\n${'x'.repeat(i)}\n`,
  );
  const p = spool('many', msgs.map((m) => `${FROM1}${m}\n`).join(''));
  const s = { delays: 0 };
  const md = await open(p, s);
  const opened = s.delays;
  assert.ok(md.readCached);
  for (let i = 0; i < msgs.length; i++) {
    const parts: Buffer[] = [];
    for await (const b of md.read(i, null, s)) parts.push(b);
    const got = Buffer.from(Buffer.concat(parts).toString('latin1').replace(/^\./gm, ''), 'latin1');
    assert.deepEqual(got, wire(msgs[i]), `RETR ${i + 1}`);
  }
  const reads = s.delays - opened;
  assert.ok(reads >= 2 && reads <= 8, `${msgs.length} small messages took ${reads} hand-offs`);
  // TOP never comes from the window, and a message is taken from it once.
  assert.equal((await retr(md, 5, 0)).toString(), 'Subject: m5\r\n\r\n');
  assert.equal(md.readCached(msgs.length - 1, s), undefined);
  await md.release(s);
});

test('UIDs are stable across sessions and ignore Status headers rewritten by mail readers', async () => {
  const p = spool('uids', MBOX);
  const a = await open(p);
  const uidsA = a.messages.map((m) => m.uid);
  await a.release({ delays: 0 });
  // mutt marks message 1 read: a Status header appears; the UID must not change.
  writeFileSync(p, MBOX.replace('Subject: one\n', 'Subject: one\nStatus: RO\n'));
  const b = await open(p);
  assert.deepEqual(
    b.messages.map((m) => m.uid),
    uidsA,
  );
  for (const u of uidsA) assert.match(u, /^[\x21-\x7e]{1,70}$/);
  assert.equal(new Set(uidsA).size, 3);
  await b.release({ delays: 0 });
  // X-UIDL (qpopper) is reused; identical copies get distinct UIDs.
  const dup = `${FROM1}X-UIDL: keepme123\nSubject: a\n\nx\n\n${FROM1}Subject: a\n\nx\n\n${FROM1}Subject: a\n\nx\n`;
  const c = await open(spool('dups', dup));
  assert.equal(c.messages[0].uid, 'keepme123');
  assert.notEqual(c.messages[1].uid, c.messages[2].uid);
  await c.release({ delays: 0 });
});

test('quoting none and mboxo change the bytes and the sizes alike', async () => {
  const p = spool('quoting', MBOX);
  for (const quoting of ['none', 'mboxo'] as const) {
    const md = await open(p, { delays: 0 }, storeWith({ quoting }));
    assert.deepEqual(await retr(md, 1), wire(STORED[1], quoting));
    assert.equal(md.messages[1].size, wire(STORED[1], quoting).length);
    await md.release({ delays: 0 });
  }
});

test('a second session gets in-use; a missing spool file is an empty maildrop', async () => {
  const p = spool('busy', MBOX);
  const md = await open(p);
  const r = await store.open(p, { session: { delays: 0 }, log });
  assert.deepEqual(r, { ok: false, reason: 'in-use' });
  await md.release({ delays: 0 });
  assert.equal(existsSync(`${p}.pop3.lock`), false, 'session lock removed');
  const again = await open(p);
  await again.release({ delays: 0 });
  const none = await open(join(root, 'nobody'));
  assert.equal(none.messages.length, 0);
  await none.update(new Set(), { delays: 0 });
  assert.equal(existsSync(join(root, 'nobody')), false, 'no file created');
});

test('QUIT with deletions rewrites under the dotlock and keeps mail appended during the session', async () => {
  const M3b = 'Subject: three\n\nthree\n';
  const p = spool('append', `${FROM1}${M1}\n${FROM2}${M2}\n${FROM3}${M3b}\n`);
  const md = await open(p);
  const kept = md.messages[1];
  // An MDA delivers while the session runs (it would take the dotlock, which we do not hold now).
  const late = `${FROM1}Subject: late\n\ndelivered during the session\n\n`;
  assert.equal(existsSync(`${p}.lock`), false, 'no dotlock held during the session');
  appendFileSync(p, late);
  const r = await md.update(new Set([0, 2]), { delays: 0 });
  assert.deepEqual(r, {
    deleted: 2,
    deletedBytes: md.totalSize - kept.size,
    failed: 0,
    left: 1,
    leftBytes: kept.size,
  });
  assert.equal(existsSync(`${p}.lock`), false, 'dotlock released');
  assert.equal(existsSync(`${p}.pop3.lock`), false, 'session lock released');
  assert.equal(readFileSync(p, 'latin1'), `${FROM2}${M2}\n${late}`);
  const next = await open(p);
  assert.equal(next.messages.length, 2);
  assert.equal(next.messages[0].uid, kept.uid, 'UID survives the rewrite');
  assert.equal(next.messages[0].size, kept.size);
  assert.deepEqual(await retr(next, 1), wire('Subject: late\n\ndelivered during the session\n'));
  // Delete everything: an empty file stays (the spool file is the MDA's).
  const all = await next.update(new Set([0, 1]), { delays: 0 });
  assert.equal(all.deleted, 2);
  assert.equal(readFileSync(p, 'latin1'), '');
});

test('a held dotlock makes open wait then fail; a stale one is broken', async () => {
  const p = spool('locked', MBOX);
  writeFileSync(`${p}.lock`, '12345\n');
  const r = await store.open(p, { session: { delays: 0 }, log });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'temporary');
  assert.equal(existsSync(`${p}.pop3.lock`), false, 'session lock given back');
  // The same lock, judged stale by a short stale time.
  const md = await open(p, { delays: 0 }, storeWith({ dotlockStaleMs: 0 }));
  assert.equal(md.messages.length, 3);
  await md.release({ delays: 0 });
  assert.equal(existsSync(`${p}.lock`), false);
});

test('a file changed in place during the session is not rewritten; nothing is lost', async () => {
  const p = spool('changed', MBOX);
  const md = await open(p);
  writeFileSync(p, `${FROM3}Subject: replaced\n\nx\n`);
  const r = await md.update(new Set([0]), { delays: 0 });
  assert.equal(r.deleted, 0);
  assert.equal(r.failed, 1);
  assert.equal(readFileSync(p, 'latin1'), `${FROM3}Subject: replaced\n\nx\n`);
});

test('auto store: a directory is a Maildir, a file is an mbox; not an mbox is refused', async () => {
  const dir = join(root, 'md');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'new', '1.M1P1.x'), 'Subject: maildir\n\nhi\n');
  const maildir = createMaildirStore(() => MAILDIR_CONFIG, pool);
  const auto = createStoreSelector(() => 'auto', maildir, store);
  const s = { delays: 0 };
  const a = await open(dir, s, auto);
  assert.equal(a.messages[0].uid, '1.M1P1.x');
  assert.equal(s.delays, 1, 'a Maildir costs one hand-off, as before');
  await a.release({ delays: 0 });
  const s2 = { delays: 0 };
  const b = await open(spool('auto-mbox', MBOX), s2, auto);
  assert.equal(b.messages.length, 3);
  assert.equal(s2.delays, 2, 'first time: the Maildir attempt, then the mbox');
  await b.release({ delays: 0 });
  const s3 = { delays: 0 };
  const b2 = await open(join(root, 'auto-mbox'), s3, auto);
  assert.equal(s3.delays, 1, 'a known mbox opens in one hand-off');
  await b2.release({ delays: 0 });
  const missing = await auto.open(join(root, 'missing'), { session: { delays: 0 }, log });
  assert.equal(missing.ok, false, 'auto: a missing path keeps the Maildir error');
  const junk = await store.open(spool('junk', 'not a mailbox\n'), { session: { delays: 0 }, log });
  assert.equal(junk.ok, false);
});

test('an unchanged mbox is not read again: its listing is reused without the dotlock', async () => {
  const p = spool('poll', MBOX);
  const old = Date.now() / 1000 - 60;
  utimesSync(p, old, old);
  const first = await open(p);
  const uids = first.messages.map((m) => m.uid);
  await first.release({ delays: 0 });
  // A delivery holds the dotlock: a scan would wait for it, the unchanged poll does not.
  writeFileSync(`${p}.lock`, '1\n');
  const t0 = Date.now();
  const again = await open(p);
  assert.ok(Date.now() - t0 < base.dotlockWaitMs, 'no dotlock wait');
  assert.deepEqual(
    again.messages.map((m) => m.uid),
    uids,
  );
  assert.deepEqual(await retr(again, 1), wire(STORED[1]));
  await again.release({ delays: 0 });
  // The delivery appends and lets go: the next open scans and sees the new message.
  // (The last message has no final newline: the MDA ends it and adds the empty separator line.)
  appendFileSync(p, `\n\n${FROM1}Subject: new\n\nfresh\n`);
  rmSync(`${p}.lock`);
  const third = await open(p);
  assert.equal(third.messages.length, 4);
  assert.deepEqual(await retr(third, 3), wire('Subject: new\n\nfresh\n'));
  await third.release({ delays: 0 });
});

test('a spool file that is a symbolic link is refused', async () => {
  const target = spool('secret-target', MBOX);
  const link = join(root, 'linked');
  symlinkSync(target, link);
  const r = await store.open(link, { session: { delays: 0 }, log });
  assert.equal(r.ok, false);
  assert.equal(existsSync(`${link}.pop3.lock`), false, 'session lock given back');
});

test('property: what an mboxrd writer stored, RETR gives back byte for byte, with exact sizes', async () => {
  const line = fc.oneof(
    fc.constantFrom(
      '',
      'From here',
      '>From there',
      '>>From deep',
      'From a Mon Jan  1 00:00:00 2024',
      '.',
      '..two',
      '.From x',
      ' From indented',
      'Subject: in body',
    ),
    fc.string({ unit: fc.constantFrom('a', ' ', '.', '>', 'F', 'r', 'o', 'm', '\t', 'é'), maxLength: 12 }),
  );
  const message = fc.array(line, { maxLength: 12 });
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 5 }), async (bodies) => {
      const msgs = bodies.map((b, i) => `Subject: m${i}\n\n${b.map((l) => `${l}\n`).join('')}`);
      // An mboxrd writer: every line matching ^>*From  gets one more '>'.
      const stored = msgs.map((m) => `${FROM1}${m.replace(/^(>*From )/gm, '>$1')}\n`).join('');
      const p = spool(`prop-${run++}`, stored);
      const md = await open(p);
      try {
        assert.equal(md.messages.length, msgs.length);
        assert.equal(new Set(md.messages.map((m) => m.uid)).size, msgs.length, 'distinct UIDs');
        for (let i = 0; i < msgs.length; i++) {
          const want = Buffer.from(msgs[i].replace(/\n/g, '\r\n'), 'utf8');
          assert.equal(md.messages[i].size, want.length, `size of ${i + 1}`);
          assert.deepEqual(await retr(md, i), want, `RETR ${i + 1}`);
        }
      } finally {
        await md.release({ delays: 0 });
      }
    }),
    { numRuns: 60 },
  );
});
