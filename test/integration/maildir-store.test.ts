// The Maildir store on real temporary directories, through a real worker pool.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  createMaildirStore,
  type MaildirStoreConfig,
  type OpenedMaildrop,
} from '../../modules/pop3/maildir/store.js';
import type { Maildrop } from '../../modules/pop3/seams.js';
import { MAILDIR_CONFIG, storeFixture } from '../helpers/store-fixture.js';

const MKMAILDIR = '/work/shared/bench/mkmaildir.py';
const { log, pool, root } = storeFixture('maildir-store');

const base = MAILDIR_CONFIG;
function storeWith(over: Partial<MaildirStoreConfig> = {}) {
  const cfg = { ...base, ...over };
  return createMaildirStore(() => cfg, pool);
}
const store = storeWith();

async function open(path: string, s = { delays: 0 }, folder?: string, st = store): Promise<OpenedMaildrop> {
  const r = await st.open(path, { session: s, log, folder });
  if (!r.ok) assert.fail(`open ${path}: ${JSON.stringify(r)}`);
  return r.maildrop as OpenedMaildrop;
}

async function retr(
  md: Maildrop,
  i: number,
  lines: number | null = null,
  s = { delays: 0 },
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of md.read(i, lines, s)) parts.push(c);
  return Buffer.concat(parts);
}
const unstuff = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/(^|\n)\.\./g, '$1.'), 'latin1');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Make new/ and cur/ look untouched for a while, as between two polls of a quiet mailbox. */
function age(md: string, seconds = 60): void {
  const t = Date.now() / 1000 - seconds;
  for (const s of ['new', 'cur']) utimesSync(join(md, s), t, t);
}

let seq = 0;
function maildir(files: Record<string, string | Buffer> = {}): string {
  const md = join(root, `md${++seq}`);
  for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(md, s), { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(md, name), data);
  return md;
}
const msg = (subject: string, body = 'hello\n') =>
  `From: a@example.org\nTo: b@example.org\nSubject: ${subject}\n\n${body}`;

interface Expected {
  users: Record<
    string,
    {
      messages: {
        base: string;
        kind: string;
        name_style: string;
        size: number;
        sha256: string;
        wire_sha256: string;
        top0_sha256: string;
        top3_sha256: string;
        top_alt?: Record<string, string[]>;
      }[];
    }
  >;
}
let corpus = '';
let expected: Expected;
before(() => {
  corpus = join(root, 'corpus');
  const r = spawnSync('python3', [MKMAILDIR, corpus, '--users', '3', '--msgs', '14'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  expected = JSON.parse(readFileSync(join(corpus, 'expected.json'), 'utf8'));
});

test('mkmaildir corpus: UIDs, sizes and RETR/TOP bytes equal expected.json, every name style', async () => {
  const styles = new Set<string>();
  for (const [user, u] of Object.entries(expected.users)) {
    const s = { delays: 0 };
    const md = await open(join(corpus, user, 'Maildir'), s);
    assert.equal(s.delays, 1, 'one hand-off to open');
    assert.equal(md.messages.length, u.messages.length);
    assert.equal(readdirSync(join(corpus, user, 'Maildir', 'new')).length, 0, 'new/ moved to cur/');
    const byUid = new Map(u.messages.map((m) => [m.base, m]));
    let total = 0;
    for (let i = 0; i < md.messages.length; i++) {
      const info = md.messages[i];
      const m = byUid.get(info.uid);
      assert.ok(m, `UIDL ${info.uid} is a base name`);
      styles.add(m.name_style);
      const d0: number = s.delays;
      const wire = await retr(md, i, null, s);
      // At most one: RETR reads the following small messages ahead (maildir-readahead.test.ts).
      assert.ok(s.delays - d0 <= 1, 'a small message is at most one hand-off');
      const payload = unstuff(wire);
      assert.equal(sha(payload), m.wire_sha256, `${m.kind} RETR bytes`);
      assert.equal(info.size, payload.length, `${m.kind}: listed size is the RETR payload size`);
      // expected.json's size is the CRLF text; RETR adds CRLF to a message without a final newline.
      assert.equal(info.size, m.size + (m.wire_sha256 === m.sha256 ? 0 : 2), m.kind);
      const t0 = sha(unstuff(await retr(md, i, 0, s)));
      const t3 = sha(unstuff(await retr(md, i, 3, s)));
      assert.ok(t0 === m.top0_sha256 || m.top_alt?.['0'].includes(t0), `${m.kind} TOP 0`);
      assert.ok(t3 === m.top3_sha256 || m.top_alt?.['3'].includes(t3), `${m.kind} TOP 3`);
      total += info.size;
    }
    assert.equal(md.totalSize, total);
    await md.release(s);
  }
  assert.deepEqual([...styles].sort(), ['maildir++ S=', 'plain', 'r2d2 Z']);
});

test('an unchanged maildrop is listed from the cache: no readdir, no stat per message', async () => {
  const md = maildir({
    'cur/1700000001.M1P1.host:2,S': msg('one'),
    'cur/1700000002.M2P2.host:2,': msg('two'),
  });
  age(md);
  const first = await open(md);
  assert.equal(first.counters.fromCache, false);
  assert.equal(first.counters.measured, 2);
  assert.equal(first.counters.cacheWritten, true);
  const listing = first.messages.map((m) => ({ ...m }));
  await first.release({ delays: 0 });
  const second = await open(md);
  assert.equal(second.counters.fromCache, true);
  assert.equal(second.counters.scanned, 0, 'no readdir');
  assert.equal(second.counters.measured, 0);
  assert.deepEqual(
    second.messages.map((m) => ({ ...m })),
    listing,
  );
  assert.equal(unstuff(await retr(second, 1)).toString(), msg('two').replaceAll('\n', '\r\n'));
  await second.release({ delays: 0 });
});

test('mail delivered after a cached open appears in the next session; only it is measured', async () => {
  const md = maildir({ 'cur/1700000001.M1P1.host:2,': msg('old') });
  age(md);
  await (await open(md)).release({ delays: 0 });
  const during = await open(md);
  assert.equal(during.counters.fromCache, true);
  writeFileSync(join(md, 'new', '1700000099.M9P9.host'), msg('new mail'));
  assert.equal(during.messages.length, 1, 'a session keeps its listing');
  await during.release({ delays: 0 });
  const next = await open(md);
  assert.equal(next.counters.fromCache, false);
  assert.equal(next.counters.moved, 1);
  assert.equal(next.counters.measured, 1, 'old entries reused');
  assert.equal(next.counters.reused, 1);
  assert.deepEqual(
    next.messages.map((m) => m.uid),
    ['1700000001.M1P1.host', '1700000099.M9P9.host'],
  );
  assert.ok(existsSync(join(md, 'cur', '1700000099.M9P9.host:2,')));
  await next.release({ delays: 0 });
});

test('a file renamed by another program (flags changed) is still found by its base name', async () => {
  const md = maildir({
    'cur/1700000001.M1P1.host:2,': msg('one'),
    'cur/1700000002.M2P2.host:2,': msg('two'),
  });
  age(md);
  await (await open(md)).release({ delays: 0 });
  renameSync(join(md, 'cur', '1700000001.M1P1.host:2,'), join(md, 'cur', '1700000001.M1P1.host:2,RS'));
  const a = await open(md);
  assert.equal(a.counters.measured, 0, 'the renamed file is reused, not measured');
  assert.deepEqual(
    a.messages.map((m) => m.uid),
    ['1700000001.M1P1.host', '1700000002.M2P2.host'],
  );
  // Renamed again during the session: RETR and DELE still find it.
  renameSync(join(md, 'cur', '1700000002.M2P2.host:2,'), join(md, 'cur', '1700000002.M2P2.host:2,FS'));
  assert.equal(unstuff(await retr(a, 1)).toString(), msg('two').replaceAll('\n', '\r\n'));
  const r = await a.update(new Set([1]), { delays: 0 });
  assert.deepEqual(r, {
    deleted: 1,
    deletedBytes: a.messages[1].size,
    failed: 0,
    left: 1,
    leftBytes: a.messages[0].size,
  });
  assert.deepEqual(readdirSync(join(md, 'cur')), ['1700000001.M1P1.host:2,RS']);
});

test('name styles: Z hint used when it agrees with the disk size, ignored when wrong; W=; long names', async () => {
  const body = msg('hinted', 'line\n'.repeat(10));
  const crlf = Buffer.byteLength(body.replaceAll('\n', '\r\n'));
  const hex = crlf.toString(16).toUpperCase();
  const long = `1700000005.${'L'.repeat(80)}.host`;
  const md = maildir({
    [`cur/1700000001.M1P1Z${hex}.host:2,S`]: body,
    'cur/1700000002.M2P2Z5.host:2,': body, // wrong: smaller than the file
    [`cur/1700000003.M3P3.host,S=${body.length},W=${crlf}:2,`]: body,
    'cur/1700000004.R0a0b.host:2,': body,
    [`cur/${long}:2,`]: body,
    'cur/1700000006 with space:2,': body,
    'new/1700000007.M7P7Z0.host': '',
  });
  const s = storeWith();
  const m = await open(md, { delays: 0 }, undefined, s);
  assert.equal(m.counters.measured, 7);
  assert.equal(m.counters.hinted, 2, 'Z and W= hints that agree with the file size');
  for (let i = 0; i < 6; i++) assert.equal(m.messages[i].size, crlf, `message ${i + 1}`);
  assert.equal(m.messages[6].size, 0, 'empty file');
  assert.equal((await retr(m, 6)).length, 0);
  assert.equal(m.messages[4].uid, `X${createHash('sha1').update(long).digest('hex')}`);
  assert.match(m.messages[5].uid, /^X[0-9a-f]{40}$/);
  assert.equal(m.messages[0].uid, `1700000001.M1P1Z${hex}.host`);
  for (const x of m.messages) assert.match(x.uid, /^[\x21-\x7e]{1,70}$/);
  assert.equal(new Set(m.messages.map((x) => x.uid)).size, 7, 'unique');
  await m.release({ delays: 0 });
});

test('a hinted message without a final newline still lists its exact RETR size', async () => {
  const body = msg('no newline', 'last line');
  const crlf = Buffer.byteLength(body.replaceAll('\n', '\r\n'));
  const md = maildir({ [`cur/1700000001.M1P1Z${crlf.toString(16).toUpperCase()}.host:2,`]: body });
  const m = await open(md);
  assert.equal(m.counters.hinted, 1);
  assert.equal(m.messages[0].size, (await retr(m, 0)).length);
  await m.release({ delays: 0 });
});

test('client workarounds: sizes follow stripNul and ensureHeaderEnd exactly', async () => {
  const headerOnly = 'From: a@example.org\nSubject: nul\0 in header\n';
  const crlf = Buffer.byteLength(headerOnly.replaceAll('\n', '\r\n'));
  const md = maildir({
    'cur/1700000001.M1P1.host:2,': headerOnly,
    [`cur/1700000002.M2P2Z${crlf.toString(16).toUpperCase()}.host:2,`]: headerOnly,
  });
  for (const [stripNul, ensureHeaderEnd] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    const s = storeWith({ stripNul, ensureHeaderEnd });
    const m = await open(md, { delays: 0 }, undefined, s);
    for (let i = 0; i < 2; i++) {
      const wire = await retr(m, i);
      assert.equal(
        m.messages[i].size,
        wire.length,
        `stripNul=${stripNul} ensureHeaderEnd=${ensureHeaderEnd}`,
      );
      assert.equal(wire.includes(0), !stripNul);
      assert.equal(wire.toString('latin1').endsWith('\r\n\r\n'), ensureHeaderEnd);
    }
    await m.release({ delays: 0 });
  }
});

test('a large message is read in chunkSize pieces, one hand-off each, same bytes', async () => {
  const line = `${'x'.repeat(75)}\n`;
  const body = msg('big', `.dot\n${line.repeat(20_000)}`);
  const md = maildir({ 'cur/1700000001.M1P1.host:2,': body });
  const s = storeWith({ chunkSize: 65536 });
  const m = await open(md, { delays: 0 }, undefined, s);
  const sess = { delays: 0 };
  const chunks: Buffer[] = [];
  for await (const c of m.read(0, null, sess)) {
    assert.ok(c.length <= 2 * 65536 + 4);
    chunks.push(c);
  }
  const want = Math.ceil(Buffer.byteLength(body) / 65536);
  assert.equal(chunks.length, want);
  assert.equal(sess.delays, want);
  const wire = unstuff(Buffer.concat(chunks));
  assert.equal(wire.toString(), body.replaceAll('\n', '\r\n'));
  assert.equal(wire.length, m.messages[0].size);
  // TOP stops reading early.
  const top = { delays: 0 };
  assert.equal(
    unstuff(await retr(m, 0, 1, top))
      .toString()
      .split('\r\n').length,
    6,
  );
  assert.equal(top.delays, 1);
  await m.release({ delays: 0 });
});

test('lock: a second open is in-use; a lock left by a dead process is broken', async () => {
  const md = maildir({ 'cur/1700000001.M1P1.host:2,': msg('x') });
  const a = await open(md);
  const again = await store.open(md, { session: { delays: 0 }, log });
  assert.deepEqual(again, { ok: false, reason: 'in-use' });
  // A different store (another process's instance) is refused too.
  assert.deepEqual(await storeWith().open(md, { session: { delays: 0 }, log }), {
    ok: false,
    reason: 'in-use',
  });
  await a.release({ delays: 0 });
  assert.ok(!existsSync(join(md, 'pop3.lock')));
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  writeFileSync(join(md, 'pop3.lock'), `${hostname()} ${dead} gone t 0\n`);
  const b = await open(md);
  assert.ok(b.messages.length === 1);
  await b.release({ delays: 0 });
});

test('release changes nothing; update deletes; update moves to the trash folder; failures counted', async () => {
  const files = {
    'cur/1700000001.M1P1.host:2,': msg('one'),
    'cur/1700000002.M2P2.host:2,S': msg('two'),
    'new/1700000003.M3P3.host': msg('three'),
  };
  const md = maildir(files);
  const a = await open(md);
  const before = readdirSync(join(md, 'cur')).sort();
  await a.release({ delays: 0 });
  assert.deepEqual(readdirSync(join(md, 'cur')).sort(), before);
  assert.equal(before.length, 3);

  const b = await open(md);
  const sess = { delays: 0 };
  const r = await b.update(new Set([0, 2]), sess);
  assert.equal(sess.delays, 1);
  assert.deepEqual(r, {
    deleted: 2,
    deletedBytes: b.messages[0].size + b.messages[2].size,
    failed: 0,
    left: 1,
    leftBytes: b.messages[1].size,
  });
  assert.deepEqual(readdirSync(join(md, 'cur')), ['1700000002.M2P2.host:2,S']);
  assert.ok(!existsSync(join(md, 'pop3.lock')), 'unlocked');
  const c = await open(md);
  assert.deepEqual(
    c.messages.map((m) => m.uid),
    ['1700000002.M2P2.host'],
  );
  assert.equal(c.counters.measured, 0, 'the cache was rewritten from the known result');
  await c.release({ delays: 0 });

  const md2 = maildir(files);
  const mover = storeWith({ deleteMode: 'move', trashFolder: 'Trash' });
  mkdirSync(join(md2, '.Trash', 'cur'), { recursive: true });
  writeFileSync(join(md2, '.Trash', 'cur', '1700000002.M2P2.host:2,S'), 'already there');
  const d = await open(md2, { delays: 0 }, undefined, mover);
  const r2 = await d.update(new Set([0, 1]), { delays: 0 });
  assert.equal(r2.deleted, 1);
  assert.equal(r2.failed, 1, 'a name taken in the trash is never overwritten');
  assert.equal(r2.left, 2);
  assert.deepEqual(readdirSync(join(md2, '.Trash', 'cur')).sort(), [
    '1700000001.M1P1.host:2,',
    '1700000002.M2P2.host:2,S',
  ]);
  assert.equal(readFileSync(join(md2, '.Trash', 'cur', '1700000002.M2P2.host:2,S'), 'utf8'), 'already there');
  assert.ok(existsSync(join(md2, 'cur', '1700000002.M2P2.host:2,S')), 'the failed one is kept');
  assert.ok(existsSync(join(md2, '.Trash', 'maildirfolder')));
});

test('folders, missing subdirectories, missing maildrop', async () => {
  const md = maildir({ 'cur/1700000001.M1P1.host:2,': msg('inbox') });
  mkdirSync(join(md, '.Spam'));
  writeFileSync(join(md, '.Spam', 'junk'), 'x'); // no cur/new/tmp yet
  const spam = await open(md, { delays: 0 }, 'Spam');
  assert.equal(spam.messages.length, 0);
  assert.ok(statSync(join(md, '.Spam', 'cur')).isDirectory(), 'cur/ new/ tmp/ created');
  const inbox = await open(md);
  assert.equal(inbox.messages.length, 1, 'a folder has its own lock');
  await spam.release({ delays: 0 });
  await inbox.release({ delays: 0 });
  const missing = await store.open(join(root, 'nobody'), { session: { delays: 0 }, log });
  assert.equal(missing.ok, false);
  assert.ok(!missing.ok && missing.reason === 'temporary' && /does not exist/.test(missing.detail));
  const noFolder = await store.open(md, { session: { delays: 0 }, log, folder: 'Nope' });
  assert.ok(!noFolder.ok && noFolder.reason === 'temporary');
  const bad = await store.open(md, { session: { delays: 0 }, log, folder: '../x' });
  assert.ok(!bad.ok && bad.reason === 'temporary');
});

test('a message removed by another program during the session: read rejects, update counts it deleted', async () => {
  const md = maildir({
    'cur/1700000001.M1P1.host:2,': msg('one'),
    'cur/1700000002.M2P2.host:2,': msg('two'),
  });
  const m = await open(md);
  rmSync(join(md, 'cur', '1700000001.M1P1.host:2,'));
  await assert.rejects(retr(m, 0), { code: 'MESSAGE_GONE' });
  const r = await m.update(new Set([0]), { delays: 0 });
  assert.equal(r.failed, 0);
  assert.equal(r.deleted, 1);
  assert.equal(readdirSync(join(md, 'cur')).length, 1);
});

test('a long session keeps its lock fresh (mtime refreshed every lockStaleMs / 3)', async () => {
  const md = maildir({ 'cur/1700000001.M1P1.host:2,': msg('x') });
  const s = storeWith({ lockStaleMs: 3000 });
  const m = await open(md, { delays: 0 }, undefined, s);
  const lock = join(md, 'pop3.lock');
  const old = Date.now() / 1000 - 60;
  utimesSync(lock, old, old);
  await new Promise((r) => setTimeout(r, 1400));
  assert.ok(Date.now() - statSync(lock).mtimeMs < 5000, 'refreshed');
  await m.release({ delays: 0 });
  assert.ok(!existsSync(lock));
});

test('UPDATE does not rewrite the cache over changes another program made during the session', async () => {
  const md = maildir({
    'cur/1700000001.M1P1.host:2,': msg('one'),
    'cur/1700000002.M2P2.host:2,': msg('two'),
  });
  age(md);
  await (await open(md)).release({ delays: 0 });
  const m = await open(md);
  assert.equal(m.counters.fromCache, true);
  // Another program (an IMAP server, say) files a message straight into cur/.
  writeFileSync(join(md, 'cur', '1700000003.M3P3.host:2,S'), msg('three'));
  const r = await m.update(new Set([0]), { delays: 0 });
  assert.equal(r.deleted, 1);
  // Long enough for a cache written at UPDATE to be trusted: it must not have been written.
  await new Promise((res) => setTimeout(res, 300));
  const next = await open(md);
  assert.equal(next.counters.fromCache, false);
  assert.deepEqual(
    next.messages.map((x) => x.uid),
    ['1700000002.M2P2.host', '1700000003.M3P3.host'],
  );
  await next.release({ delays: 0 });
});

test('a new/ file whose cur/ name is taken stays in new/, is listed with a unique UID, and is not lost', async () => {
  const md = maildir({
    'cur/1700000001.M1P1.host:2,': msg('in cur'),
    'new/1700000001.M1P1.host': msg('same name in new', 'different\n'),
  });
  const m = await open(md);
  assert.equal(m.messages.length, 2);
  assert.equal(m.messages[0].uid, '1700000001.M1P1.host');
  assert.match(m.messages[1].uid, /^X[0-9a-f]{40}$/);
  assert.ok(existsSync(join(md, 'new', '1700000001.M1P1.host')));
  assert.match(unstuff(await retr(m, 1)).toString(), /different/);
  assert.match(unstuff(await retr(m, 0)).toString(), /in cur/);
  await m.release({ delays: 0 });
  const again = await open(md);
  assert.deepEqual(
    again.messages.map((x) => x.uid),
    m.messages.map((x) => x.uid),
    'stable across sessions',
  );
  await again.release({ delays: 0 });
});
