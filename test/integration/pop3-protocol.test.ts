// The protocol engine over real TCP, with test doubles of the store and the authenticator.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect, type Pop3Client } from '../helpers/pop3.js';
import { type Harness, startHarness, testOptions, waitForRecord, wireForm } from '../helpers/pop3-doubles.js';

const M1 = Buffer.from('From: a@b\nSubject: one\n\nHello\n.dot line\n..two dots\nlast line no newline');
const M2 = Buffer.from('Subject: empty body\n\n');
const M3 = Buffer.from(`Subject: 8bit \xe9\xe8\n\n${'x'.repeat(5000)}\nline2\nline3\nline4\n`, 'latin1');
const BIG = Buffer.from(`Subject: big\n\n${'0123456789abcdef\n'.repeat(40_000)}`);

let h: Harness;
before(async () => {
  h = await startHarness({
    users: { joe: 'secret', ann: 'pw with spaces', box: 'x' },
    boxes: { joe: [M1, M2, M3, BIG], ann: [M1], box: [] },
    chunk: 4096,
  });
});
after(() => h.close());

async function login(user = 'joe', pass = 'secret'): Promise<Pop3Client> {
  const c = await connect(h.port);
  assert.match(await c.command(`USER ${user}`), /^\+OK/);
  assert.match(await c.command(`PASS ${pass}`), /^\+OK/);
  return c;
}

test('greeting, CAPA, unknown and out-of-state commands do not disconnect', async () => {
  const c = await connect(h.port);
  assert.match(c.greeting, /^\+OK /);
  const capa = await c.multiline('CAPA');
  assert.match(capa.first, /^\+OK/);
  for (const l of ['TOP', 'UIDL', 'USER', 'SASL PLAIN', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE']) {
    assert.ok(capa.lines.includes(l), l);
  }
  assert.match(await c.command('FOO'), /^-ERR/);
  assert.match(await c.command('STAT'), /^-ERR/);
  assert.match(await c.command('RETR 1'), /^-ERR/);
  assert.match(await c.command('PASS x'), /^-ERR/);
  assert.match(await c.command(''), /^-ERR/);
  assert.match(await c.command('quit'), /^\+OK/);
  await c.waitClosed();
});

test('a session: STAT LIST UIDL RETR TOP DELE RSET QUIT, sizes and bytes exact', async () => {
  const c = await login();
  const sizes = [M1, M2, M3, BIG].map((m) => wireForm(m).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  assert.equal(await c.command('stat'), `+OK 4 ${total}`);
  const list = await c.multiline('LIST');
  assert.deepEqual(
    list.lines,
    sizes.map((s, i) => `${i + 1} ${s}`),
  );
  assert.equal(await c.command('LIST 2'), `+OK 2 ${sizes[1]}`);
  assert.match(await c.command('LIST 5'), /^-ERR/);
  const uidl = await c.multiline('UIDL');
  assert.deepEqual(uidl.lines, ['1 uid-1', '2 uid-2', '3 uid-3', '4 uid-4']);
  assert.equal(await c.command('UIDL 3'), '+OK 3 uid-3');
  for (const [i, m] of [M1, M2, M3, BIG].entries()) {
    const r = await c.multiline(`RETR ${i + 1}`);
    assert.equal(r.first, `+OK ${sizes[i]} octets`);
    const expected = Buffer.from(
      m
        .toString('latin1')
        .replace(/\n/g, '\r\n')
        .replace(/([^\n])$/, '$1\r\n'),
      'latin1',
    );
    assert.ok(r.bytes.equals(expected), `message ${i + 1} bytes`);
    assert.equal(r.bytes.length, sizes[i]);
  }
  const top0 = await c.multiline('TOP 1 0');
  assert.deepEqual(top0.lines, ['From: a@b', 'Subject: one', '']);
  const top2 = await c.multiline('TOP 1 2');
  assert.deepEqual(top2.lines, ['From: a@b', 'Subject: one', '', 'Hello', '.dot line']);
  assert.ok(top2.raw.includes('\r\n..dot line\r\n'), 'dot-stuffed on the wire');
  const topAll = await c.multiline('TOP 1 100');
  assert.equal(topAll.lines.length, 7);
  assert.match(await c.command('DELE 2'), /^\+OK/);
  assert.match(await c.command('DELE 2'), /^-ERR/);
  assert.match(await c.command('RETR 2'), /^-ERR/);
  assert.match(await c.command('LIST 2'), /^-ERR/);
  assert.equal(await c.command('LIST 3'), `+OK 3 ${sizes[2]}`, 'numbers stay stable after DELE');
  assert.equal(await c.command('STAT'), `+OK 3 ${total - sizes[1]}`);
  assert.deepEqual((await c.multiline('UIDL')).lines, ['1 uid-1', '3 uid-3', '4 uid-4']);
  assert.match(await c.command('RSET'), /^\+OK/);
  assert.equal(await c.command('STAT'), `+OK 4 ${total}`);
  assert.match(await c.command('DELE 1'), /^\+OK/);
  assert.match(await c.command('DELE 4'), /^\+OK/);
  assert.match(await c.command('NOOP'), /^\+OK/);
  assert.match(await c.command('USER joe'), /^-ERR/, 'USER is out of state in TRANSACTION');
  assert.match(await c.command('QUIT'), /^\+OK/);
  await c.waitClosed();
  const md = h.store.opened.at(-1)!;
  assert.deepEqual(md.updates, [[0, 3]]);
  const rec = await waitForRecord(h.records, (r) => r.msg === 'disconnected: peer quit,' && r.user === 'joe');
  assert.equal(rec.sequence, 'upsLl2Uir4t3d2rl2sURsd2nuq');
  assert.equal(rec.retrieved, 4);
  assert.equal(rec.retrieved_bytes, total);
  assert.equal(rec.deleted, 2);
  assert.equal(rec.deleted_bytes, sizes[0] + sizes[3]);
  assert.equal(rec.left, 2);
  assert.equal(rec.address, '127.0.0.1');
});

test('disconnect line: exact sequence string and fields', async () => {
  const c = await login('box', 'x');
  await c.command('STAT');
  await c.multiline('UIDL');
  await c.command('NOOP');
  await c.command('NOOP');
  await c.command('XYZZY');
  await c.multiline('LIST');
  await c.command('LIST 1');
  await c.command('UIDL 1');
  await c.command('QUIT');
  await c.waitClosed();
  const rec = await waitForRecord(h.records, (r) => r.msg === 'disconnected: peer quit,' && r.user === 'box');
  assert.equal(rec.sequence, 'upsUn2!Lliq');
  for (const k of [
    'delays',
    'retrieved',
    'retrieved_bytes',
    'deleted',
    'deleted_bytes',
    'left',
    'left_bytes',
  ]) {
    assert.equal(typeof rec[k], 'number', k);
  }
});

test('dropped connection: no UPDATE, maildrop released', async () => {
  const c = await login('ann', 'pw with spaces');
  assert.match(await c.command('DELE 1'), /^\+OK/);
  c.close();
  const rec = await waitForRecord(
    h.records,
    (r) => r.msg === 'disconnected: peer closed,' && r.user === 'ann',
  );
  assert.equal(rec.deleted, 0);
  const md = h.store.opened.at(-1)!;
  assert.equal(md.updates.length, 0);
  assert.equal(md.released, 1);
  // The lock is free again.
  const c2 = await login('ann', 'pw with spaces');
  await c2.command('QUIT');
});

test('IN-USE when the maildrop is locked by another session', async () => {
  const a = await login();
  const b = await connect(h.port);
  await b.command('USER joe');
  assert.match(await b.command('PASS secret'), /^-ERR \[IN-USE\]/);
  assert.match(await a.command('QUIT'), /^\+OK/);
  assert.match(await b.command('USER joe'), /^\+OK/);
  assert.match(await b.command('PASS secret'), /^\+OK/, 'login works once the lock is free');
  await b.command('QUIT');
});

test('failed logins: one answer for unknown user and bad password, closed after the limit', async () => {
  const c = await connect(h.port);
  await c.command('USER nobody');
  const a = await c.command('PASS secret');
  await c.command('USER joe');
  const b = await c.command('PASS wrong');
  assert.equal(a, b);
  assert.match(a, /^-ERR \[AUTH\]/);
  await c.command('USER joe');
  assert.match(await c.command('PASS wrong2'), /^-ERR \[AUTH\]/);
  await c.waitClosed();
  const fail = await waitForRecord(
    h.records,
    (r) => r.msg === 'login failed: invalid credentials' && r.user === 'nobody',
  );
  assert.equal(fail.address, '127.0.0.1');
  assert.ok(!JSON.stringify(h.records).includes('wrong2'), 'password never logged');
});

test('backend down: SYS/TEMP, and the next login works once it is back', async () => {
  const c = await connect(h.port);
  h.auth.down = true;
  await c.command('USER joe');
  assert.match(await c.command('PASS secret'), /^-ERR \[SYS\/TEMP\]/);
  h.auth.down = false;
  await c.command('USER joe');
  assert.match(await c.command('PASS secret'), /^\+OK/);
  await c.command('QUIT');
});

test('APOP: banner in greeting, right digest logs in, wrong one fails', async () => {
  h.setOptions(testOptions({ apop: true }));
  try {
    const c = await connect(h.port);
    const banner = /(<[^>]+>)/.exec(c.greeting)?.[1];
    assert.ok(banner, c.greeting);
    assert.match(banner, /^<[^@<>]+@[^@<>]+>$/);
    assert.match(await c.command(`APOP joe ${'0'.repeat(32)}`), /^-ERR \[AUTH\]/);
    const digest = createHash('md5').update(`${banner}secret`).digest('hex');
    assert.match(await c.command(`APOP joe ${digest}`), /^\+OK/);
    await c.command('QUIT');
    const c2 = await connect(h.port);
    assert.notEqual(/(<[^>]+>)/.exec(c2.greeting)?.[1], banner, 'banner unique per session');
    c2.close();
  } finally {
    h.setOptions(testOptions());
  }
  const c3 = await connect(h.port);
  assert.ok(!c3.greeting.includes('<'), 'no banner without apop');
  assert.match(await c3.command(`APOP joe ${'0'.repeat(32)}`), /^-ERR/);
  c3.close();
});

test('AUTH PLAIN: initial response, continuation, cancel, =, bad base64, bare AUTH', async () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const c = await connect(h.port);
  const mechs = await c.multiline('AUTH');
  assert.deepEqual(mechs.lines, ['PLAIN']);
  assert.match(await c.command('AUTH CRAM-MD5'), /^-ERR/);
  assert.equal(await c.command('AUTH PLAIN'), '+ ');
  assert.match(await c.command('*'), /^-ERR/);
  assert.match(await c.command('AUTH PLAIN ###'), /^-ERR/);
  assert.match(await c.command('AUTH PLAIN ='), /^-ERR/);
  assert.equal(await c.command('AUTH PLAIN'), '+ ');
  assert.match(await c.command(b64('\0joe\0nope')), /^-ERR \[AUTH\]/);
  assert.match(await c.command(`AUTH PLAIN ${b64('joe\0joe\0secret')}`), /^\+OK/);
  assert.match(await c.command('STAT'), /^\+OK 4 /);
  await c.command('QUIT');
  const c2 = await connect(h.port);
  assert.equal(await c2.command('auth plain'), '+ ');
  assert.match(await c2.command(b64('\0ann\0pw with spaces')), /^\+OK/);
  await c2.command('QUIT');
});

test('pipelining: many commands in one packet answered in order', async () => {
  const c = await connect(h.port);
  c.write('USER box\r\nPASS x\r\nSTAT\r\nNOOP\r\nLIST\r\nQUIT\r\n');
  assert.match(await c.readLine(), /^\+OK/);
  assert.match(await c.readLine(), /^\+OK maildrop has 0 messages \(0 octets\)$/);
  assert.equal(await c.readLine(), '+OK 0 0');
  assert.equal(await c.readLine(), '+OK');
  assert.match(await c.readLine(), /^\+OK/);
  assert.equal(await c.readLine(), '.');
  assert.match(await c.readLine(), /^\+OK bye/);
  await c.waitClosed();
});

test('over-long command lines: -ERR, then closed after repeated abuse', async () => {
  const c = await connect(h.port);
  assert.match(await c.command(`USER ${'a'.repeat(300)}`), /^-ERR/);
  assert.match(await c.command('CAPA'), /^\+OK/, 'session still usable');
  await c.readBody();
  assert.match(await c.command('x'.repeat(1000)), /^-ERR/);
  assert.match(await c.command('x'.repeat(1000)), /^-ERR/);
  await c.waitClosed();
});

test('UPDATE failure answers -ERR', async () => {
  const c = await login('ann', 'pw with spaces');
  const md = h.store.opened.at(-1)!;
  md.failing.add(0);
  await c.command('DELE 1');
  assert.match(await c.command('QUIT'), /^-ERR \[SYS\/TEMP\]/);
  await c.waitClosed();
});

test('folder selector passes the folder to the store and strips it from the user', async () => {
  h.setOptions(testOptions({ folder_pattern: '\\+([^@]+)' }));
  try {
    const c = await connect(h.port);
    await c.command('USER joe+Spam');
    assert.match(await c.command('PASS secret'), /^\+OK maildrop has 4 messages/);
    assert.equal(h.store.folders.at(-1), 'Spam');
    assert.equal(h.auth.seen.at(-1)?.user, 'joe');
    await c.command('QUIT');
  } finally {
    h.setOptions(testOptions());
  }
});

test('login timeout closes an idle unauthenticated session', async () => {
  h.setOptions(testOptions({ login_timeout: 150 }));
  try {
    const c = await connect(h.port);
    await c.waitClosed(3000);
    const rec = await waitForRecord(h.records, (r) => r.msg === 'disconnected: timeout,');
    assert.equal(rec.sequence, '');
  } finally {
    h.setOptions(testOptions());
  }
});

test('plaintext refused off loopback without TLS', async () => {
  const h2 = await startHarness({ users: { joe: 'secret' }, boxes: { joe: [] }, loopback: false });
  try {
    const c = await connect(h2.port);
    const capa = await c.multiline('CAPA');
    assert.ok(!capa.lines.includes('USER'));
    assert.match(await c.command('USER joe'), /^-ERR \[AUTH\]/);
    assert.match(await c.command('AUTH PLAIN'), /^-ERR/);
    assert.match(await c.command('STLS'), /^-ERR/, 'no certificate: no STLS');
    c.close();
  } finally {
    await h2.close();
  }
});

test('LOGIN-DELAY: a second login of the same maildrop too soon is refused', async () => {
  h.setOptions(testOptions({ login_delay: 60_000 }));
  try {
    const c = await connect(h.port);
    const capa = await c.multiline('CAPA');
    assert.ok(capa.lines.includes('LOGIN-DELAY 60'));
    await c.command('USER box');
    assert.match(await c.command('PASS x'), /^\+OK/);
    await c.command('QUIT');
    const d = await connect(h.port);
    await d.command('USER box');
    assert.match(await d.command('PASS x'), /^-ERR \[LOGIN-DELAY\]/);
    d.close();
  } finally {
    h.setOptions(testOptions());
  }
});

test('idle timeout in TRANSACTION closes without UPDATE', async () => {
  h.setOptions(testOptions({ idle_timeout: 200 }));
  try {
    const c = await login('ann', 'pw with spaces');
    await c.command('DELE 1');
    await c.waitClosed(3000);
    const md = h.store.opened.at(-1)!;
    assert.equal(md.updates.length, 0);
    await waitForRecord(h.records, (r) => r.msg === 'disconnected: timeout,' && r.user === 'ann');
  } finally {
    h.setOptions(testOptions());
  }
});

test('RETR streams a multi-chunk message intact and counts it', async () => {
  const c = await login();
  const r = await c.multiline('RETR 4');
  const w = wireForm(BIG);
  assert.equal(r.first, `+OK ${w.size} octets`);
  assert.ok(r.raw.equals(w.stuffed));
  c.close();
});

test('a read failing before anything was sent is an -ERR and the session goes on; later it closes', async () => {
  const w = wireForm(BIG);
  assert.ok(w.stuffed.length > 3 * 4096, 'BIG takes several chunks');
  try {
    // The second chunk fails: the first was held back (is it the only one?), nothing went out.
    h.store.readFailures.set(3, 1);
    const c = await login();
    assert.match(await c.command('RETR 4'), /^-ERR \[SYS\/TEMP\]/);
    assert.match(await c.command('NOOP'), /^\+OK/);
    assert.equal((await c.multiline('RETR 1')).first.startsWith('+OK'), true);
    // The third chunk fails: the +OK line and the first chunk are out, so the session ends.
    h.store.readFailures.set(3, 2);
    c.write('RETR 4\r\n');
    await c.waitClosed(3000);
    await waitForRecord(h.records, (r) => r.msg === 'message read failed while sending');
  } finally {
    h.store.readFailures.clear();
  }
});

test('EXPIRE 0: retrieved messages are removed at QUIT without DELE', async () => {
  h.setOptions(testOptions({ expire: '0' }));
  try {
    const c = await login();
    assert.ok((await c.multiline('CAPA')).lines.includes('EXPIRE 0'));
    await c.multiline('RETR 2');
    await c.multiline('TOP 3 0');
    assert.match(await c.command('DELE 1'), /^\+OK/);
    assert.match(await c.command('QUIT'), /^\+OK/);
    await c.waitClosed();
    assert.deepEqual(h.store.opened.at(-1)!.updates, [[0, 1]], 'RETR 2 and DELE 1; TOP is not a retrieval');
  } finally {
    h.setOptions(testOptions());
  }
});
