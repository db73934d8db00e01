// The lmtp module in a real host, over real sockets: a raw client for the protocol details, Python's
// smtplib.LMTP and swaks as real clients, then the pop3 module of the same host reading the mail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sizeFromName } from '../../src/delivery/name.js';
import { helperPaths, type RunningHost, startHost } from '../helpers/host.js';
import { connect as pop3Connect } from '../helpers/pop3.js';
import { LmtpClient } from './lmtp-client.js';

// better-sqlite3 ships no types: the three calls used here.
interface SqliteDb {
  exec(sql: string): void;
  prepare(sql: string): { run(...params: unknown[]): unknown };
  close(): void;
}
const Sqlite = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => SqliteDb;

const USERS = ['joe', 'ann', 'bob', 'pop', 'many', 'big'];

function personality(opts: { maxSize?: string; lmtpExtra?: string; database?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'lmtp-test-'));
  mkdirSync(join(dir, 'data'));
  const db = new Sqlite(join(dir, 'data', 'users.sqlite'));
  db.exec(`CREATE TABLE mailbox (address TEXT PRIMARY KEY, password TEXT NOT NULL, maildrop TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, last_login INTEGER, last_login_ip TEXT)`);
  const ins = db.prepare('INSERT INTO mailbox (address, password, maildrop, active) VALUES (?, ?, ?, ?)');
  for (const u of USERS) {
    ins.run(`${u}@example.com`, '{PLAIN}secret', u, 1);
    for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(dir, 'mail', u, sub), { recursive: true });
  }
  ins.run('gone@example.com', '{PLAIN}secret', 'gone', 0); // inactive: unknown
  ins.run('new@example.com', '{PLAIN}secret', 'newbox', 1); // no Maildir on disk
  db.close();
  writeFileSync(
    join(dir, 'c11n'),
    `executes_as_root = true
log_format = json
${opts.database ?? '[database.default]\ndriver = sqlite\npath = data/users.sqlite'}
[lmtp]
${opts.lmtpExtra ?? ''}
port = 0
maildir_root = mail
max_message_size = ${opts.maxSize ?? '30M'}
[pop3]
port = 0
tls_port = 0
maildir_root = mail
maildrop_query_format_string = "SELECT maildrop, password FROM mailbox WHERE address = '%u' AND active = 1"
`,
  );
  return dir;
}

let host: RunningHost;
let port: number;

before(async () => {
  const dir = personality();
  host = await startHost({
    dir,
    c11n: readFileSync(join(dir, 'c11n'), 'utf8'),
    modules: [helperPaths.lmtpModule, helperPaths.pop3Module],
  });
  port = host.port('lmtp');
});
after(async () => {
  await host?.stop();
});

const md = (user: string, sub = 'new') => join(host.dir, 'mail', user, sub);
const files = (user: string, sub = 'new') => readdirSync(md(user, sub)).sort();
const crlf = (stored: Buffer) => Buffer.from(stored.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');

/** Every file in new/ carries its exact CRLF size in its name, within 70 characters. */
function checkSizes(user: string): void {
  for (const f of files(user)) {
    assert.ok(f.length <= 70, f);
    assert.equal(sizeFromName(f), crlf(readFileSync(join(md(user), f))).length, f);
  }
}

test('pipelined LHLO/MAIL/RCPT/DATA: answered in order, one reply per accepted recipient after the dot', async () => {
  const c = await LmtpClient.connect(port);
  try {
    assert.match(await c.line(), /^220 /);
    c.write(
      'LHLO client.example\r\nMAIL FROM:<sender@example.org> SIZE=100 BODY=8BITMIME\r\n' +
        'RCPT TO:<joe@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<ann@example.com>\r\n' +
        'RCPT TO:<gone@example.com>\r\nRCPT TO:<new@example.com>\r\nDATA\r\n',
    );
    const lhlo = await c.reply();
    assert.deepEqual(
      lhlo.slice(1).map((l) => l.slice(4)),
      ['PIPELINING', 'ENHANCEDSTATUSCODES', '8BITMIME', `SIZE ${30 * 1024 * 1024}`],
    );
    assert.match(await c.line(), /^250 2\.1\.0/);
    assert.match(await c.line(), /^250 2\.1\.5/);
    assert.match(await c.line(), /^550 5\.1\.1 <nobody@example\.com>/);
    assert.match(await c.line(), /^250 2\.1\.5/);
    assert.match(await c.line(), /^550 5\.1\.1 <gone@example\.com>/);
    assert.match(await c.line(), /^250 2\.1\.5/);
    assert.match(await c.line(), /^354 /);
    await c.sendBody('Subject: pipelined\r\n\r\n.leading dot\r\n..two dots\r\nlast line');
    assert.match(await c.line(), /^250 2\.0\.0 <joe@example\.com>/);
    assert.match(await c.line(), /^250 2\.0\.0 <ann@example\.com>/);
    assert.match(await c.line(), /^451 4\.2\.0 <new@example\.com>/);
    assert.match(await c.command('QUIT'), /^221 /);
  } finally {
    c.close();
  }
  const [j] = files('joe');
  const [a] = files('ann');
  assert.equal(j, a, 'the same base name in each Maildir');
  const stored = readFileSync(join(md('joe'), j), 'latin1');
  assert.equal(
    stored,
    'Return-Path: <sender@example.org>\nSubject: pipelined\n\n.leading dot\n..two dots\nlast line\n',
  );
  assert.equal(
    statSync(join(md('joe'), j)).ino,
    statSync(join(md('ann'), a)).ino,
    'written once, hard-linked',
  );
  checkSizes('joe');
  assert.deepEqual(files('joe', 'tmp'), []);
  assert.deepEqual(files('ann', 'tmp'), []);
  const log = await host.waitForLog(
    (r) => r.module === 'lmtp' && String(r.msg).startsWith('disconnected: peer quit'),
  );
  assert.equal(log.sequence, 'LMr5Dq');
  assert.equal(log.delays, 1, 'a small message is checked, written and committed in one hand-off');
});

test('protocol errors are answered without disconnecting; the session line has the sequence', async () => {
  const d = await LmtpClient.connect(port);
  try {
    await d.line();
    assert.match(await d.command('HELO x'), /^500 5\.5\.1/);
    assert.match(await d.command('FOO bar'), /^500 5\.5\.2/);
    assert.match(await d.command('MAIL FROM:<a@b>'), /^503 5\.5\.1/);
    d.write('LHLO me\r\n');
    assert.match(await d.line(), /^250 SIZE/);
    assert.match(await d.command('DATA'), /^503 5\.5\.1/);
    assert.match(await d.command('MAIL FROM:<>'), /^250 2\.1\.0/);
    assert.match(await d.command('MAIL FROM:<a@b>'), /^503 5\.5\.1/);
    assert.match(await d.command('RCPT joe@example.com'), /^501 5\.5\.4/);
    assert.match(await d.command('DATA'), /^503 5\.5\.1 No valid recipients/);
    assert.match(await d.command('RSET'), /^250 2\.0\.0/);
    assert.match(await d.command(`MAIL FROM:<a@b> SIZE=${31 * 1024 * 1024}`), /^552 5\.3\.4/);
    assert.match(await d.command('MAIL FROM:<a@b> FOO=1'), /^555 5\.5\.4/);
    assert.match(await d.command('VRFY joe'), /^252 /);
    assert.match(await d.command('NOOP'), /^250 /);
    assert.match(await d.command(`NOOP ${'x'.repeat(600)}`), /^500 5\.5\.2 Line too long/);
    assert.match(await d.command('QUIT'), /^221 2\.0\.0/);
    await d.closed;
  } finally {
    d.close();
  }
  const log = await host.waitForLog((r) => r.module === 'lmtp' && r.sequence === '!2MLDM2rDRM2vn!q');
  assert.equal(log.msg, 'disconnected: peer quit,');
});

function python(script: string, args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test("Python's smtplib.LMTP: one unknown recipient among three, per-recipient results", async () => {
  const before = files('bob').length;
  const r = python(
    `
import smtplib, sys, json
s = smtplib.LMTP('127.0.0.1', int(sys.argv[1]))
code, caps = s.ehlo('py.example')
msg = 'From: py@example.org\\r\\nSubject: from python\\r\\n\\r\\nHello\\r\\n.\\r\\nbye\\r\\n'
refused = s.sendmail('py@example.org', ['bob@example.com', 'ghost@example.com', 'joe@example.com'], msg)
s.quit()
print(json.dumps({'code': code, 'caps': caps.decode(), 'refused': {k: [v[0], v[1].decode()] for k, v in refused.items()}}))
`,
    [String(port)],
  );
  assert.equal(r.status, 0, r.err);
  const out = JSON.parse(r.out) as { code: number; caps: string; refused: Record<string, [number, string]> };
  assert.equal(out.code, 250);
  assert.match(out.caps, /PIPELINING/);
  assert.deepEqual(Object.keys(out.refused), ['ghost@example.com']);
  assert.equal(out.refused['ghost@example.com'][0], 550);
  const now = files('bob');
  assert.equal(now.length, before + 1);
  const text = readFileSync(join(md('bob'), now[now.length - 1]), 'utf8');
  assert.equal(
    text,
    'Return-Path: <py@example.org>\nFrom: py@example.org\nSubject: from python\n\nHello\n.\nbye\n',
  );
  checkSizes('bob');
});

test('swaks --protocol LMTP delivers', async (t) => {
  if (spawnSync('which', ['swaks']).status !== 0) {
    t.skip('swaks is not installed (CI installs it from Debian)');
    return;
  }
  const before = files('bob').length;
  const r = spawnSync(
    'swaks',
    [
      '--protocol',
      'LMTP',
      '--server',
      '127.0.0.1',
      '--port',
      String(port),
      '--from',
      'sw@example.org',
      '--to',
      'bob@example.com',
      '--header',
      'Subject: swaks test',
      '--body',
      'swaks body',
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /250 2\.0\.0 <bob@example\.com>/);
  assert.equal(files('bob').length, before + 1);
  const newest = files('bob').map((f) => ({ f, t: statSync(join(md('bob'), f)).mtimeMs }));
  const text = newest
    .map((n) => readFileSync(join(md('bob'), n.f), 'utf8'))
    .find((s) => s.includes('swaks body'));
  assert.ok(text?.includes('Subject: swaks test'));
  checkSizes('bob');
});

test('20 concurrent clients delivering 4 KB messages never collide', async () => {
  const clients = 20;
  const each = 10;
  const body = `Subject: load\r\n\r\n${'0123456789abcdef'.repeat(255)}\r\n`; // ~4 KB
  const started = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const c = await LmtpClient.connect(port, 15_000);
      try {
        await c.line();
        await c.command('LHLO load');
        for (let k = 0; k < each; k++) {
          c.write('MAIL FROM:<load@example.org>\r\nRCPT TO:<many@example.com>\r\nDATA\r\n');
          assert.match(await c.line(), /^250/);
          assert.match(await c.line(), /^250/);
          assert.match(await c.line(), /^354/);
          await c.sendBody(`X-Client: ${i}-${k}\r\n${body}`);
          assert.match(await c.line(), /^250 2\.0\.0/);
        }
        await c.command('QUIT');
      } finally {
        c.close();
      }
    }),
  );
  const ms = Date.now() - started;
  const names = files('many');
  assert.equal(names.length, clients * each);
  assert.equal(new Set(names.map((n) => n.split(':')[0])).size, clients * each);
  checkSizes('many');
  const tags = new Set(
    names.map((n) => /X-Client: (\S+)/.exec(readFileSync(join(md('many'), n), 'utf8'))?.[1]),
  );
  assert.equal(tags.size, clients * each, 'every message arrived intact');
  console.log(
    `# lmtp: ${clients * each} x 4 KB from ${clients} clients in ${ms} ms = ${Math.round((clients * each * 1000) / ms)} deliveries/s`,
  );
});

test('a 25 MB message streams to disk (size exact); MB/s reported', async () => {
  const line = `${'x'.repeat(76)}\r\n`;
  const body = `Subject: big\r\n\r\n${line.repeat(Math.ceil((25 * 1024 * 1024) / line.length))}`;
  const c = await LmtpClient.connect(port, 30_000);
  const started = Date.now();
  try {
    await c.line();
    await c.command('LHLO big');
    c.write(`MAIL FROM:<big@example.org> SIZE=${body.length}\r\nRCPT TO:<big@example.com>\r\nDATA\r\n`);
    assert.match(await c.line(), /^250/);
    assert.match(await c.line(), /^250/);
    assert.match(await c.line(), /^354/);
    await c.sendBody(body);
    assert.match(await c.line(), /^250 2\.0\.0/);
  } finally {
    c.close();
  }
  const ms = Date.now() - started;
  const [f] = files('big');
  const expected = 'Return-Path: <big@example.org>\r\n'.length + body.length;
  assert.equal(sizeFromName(f), expected);
  const lines = body.split('\r\n').length; // the body's lines, plus Return-Path
  assert.equal(statSync(join(md('big'), f)).size, expected - lines, 'stored with LF');
  console.log(
    `# lmtp: ${(body.length / 1048576).toFixed(1)} MB message in ${ms} ms = ${(((body.length / 1048576) * 1000) / ms).toFixed(1)} MB/s`,
  );
});

test('a client dropping mid-DATA leaves nothing in new/ and no tmp/ file', async () => {
  const before = files('joe').length;
  const c = await LmtpClient.connect(port);
  await c.line();
  await c.command('LHLO drop');
  await c.command('NOOP'); // a sequence of its own, to find this session's log line
  c.write('MAIL FROM:<d@example.org>\r\nRCPT TO:<joe@example.com>\r\nDATA\r\n');
  await c.line();
  await c.line();
  await c.line();
  c.write(`Subject: dropped\r\n\r\n${'y'.repeat(78)}\r\n`.repeat(8000)); // ~640 KB: chunks were written
  await new Promise((r) => setTimeout(r, 200));
  c.close();
  await host.waitForLog(
    (r) => r.module === 'lmtp' && r.msg === 'disconnected: peer closed,' && r.sequence === 'LnMrD',
  );
  assert.equal(files('joe').length, before);
  assert.deepEqual(files('joe', 'tmp'), []);
});

test('POP3 in the same host returns the delivered bytes; STAT and LIST sizes equal RETR bytes', async () => {
  const bodies = [
    'Subject: one\r\n\r\nfirst\r\n',
    'Subject: two\r\n\r\n.dotted\r\n\r\nwith blank lines\r\n\r\n',
    `Subject: three\r\n\r\n${'z'.repeat(5000)}\r\nend`,
  ];
  const c = await LmtpClient.connect(port);
  try {
    await c.line();
    await c.command('LHLO rt');
    for (const b of bodies) {
      c.write('MAIL FROM:<rt@example.org>\r\nRCPT TO:<pop@example.com>\r\nDATA\r\n');
      await c.line();
      await c.line();
      assert.match(await c.line(), /^354/);
      await c.sendBody(b);
      assert.match(await c.line(), /^250 2\.0\.0/);
    }
  } finally {
    c.close();
  }
  // What RETR must return: the Return-Path line, then the body with CRLF line ends and a final CRLF.
  const want = bodies.map((b) =>
    Buffer.from(`Return-Path: <rt@example.org>\r\n${b.endsWith('\r\n') ? b : `${b}\r\n`}`),
  );
  const p = await pop3Connect(host.port('pop3'));
  try {
    assert.match(p.greeting, /^\+OK/);
    assert.match(await p.command('USER pop@example.com'), /^\+OK/);
    assert.match(await p.command('PASS secret'), /^\+OK/);
    const stat = await p.command('STAT');
    const total = want.reduce((n, b) => n + b.length, 0);
    assert.equal(stat, `+OK 3 ${total}`);
    const list = await p.multiline('LIST');
    const sizes = list.lines.map((l) => Number(l.split(' ')[1]));
    const retrieved: Buffer[] = [];
    for (let i = 1; i <= 3; i++) retrieved.push((await p.multiline(`RETR ${i}`)).bytes);
    // Delivery order within a second is not the listing order: compare as sets of messages.
    const byText = (a: Buffer, b: Buffer) => a.toString().localeCompare(b.toString());
    assert.deepEqual([...retrieved].sort(byText), [...want].sort(byText));
    assert.deepEqual(
      sizes,
      retrieved.map((b) => b.length),
    );
    assert.match(await p.command('QUIT'), /^\+OK/);
  } finally {
    p.close();
  }
});

test('a text line over 64 KB refuses the message (554 5.6.0); the session goes on', async () => {
  const before = files('joe').length;
  const c = await LmtpClient.connect(port);
  try {
    await c.line();
    await c.command('LHLO long');
    c.write('MAIL FROM:<l@example.org>\r\nRCPT TO:<joe@example.com>\r\nDATA\r\n');
    for (const want of [/^250/, /^250/, /^354/]) assert.match(await c.line(), want);
    await c.sendBody(`Subject: long\r\n\r\n${'L'.repeat(70_000)}\r\nafter\r\n`);
    assert.match(await c.line(), /^554 5\.6\.0 <joe@example\.com>/);
    assert.match(await c.command('NOOP'), /^250/);
  } finally {
    c.close();
  }
  assert.equal(files('joe').length, before);
  assert.deepEqual(files('joe', 'tmp'), []);
});

test('SIGUSR1 reports the figures; SIGHUP applies a new max_message_size to the next LHLO', async () => {
  host.signal('SIGUSR1');
  const r = await host.waitForLog((l) => l.module === 'lmtp' && l.msg === 'report');
  assert.ok(Number(r.delivered) >= 200, JSON.stringify(r));
  assert.ok(Number(r.unknownRecipients) >= 3, JSON.stringify(r));
  assert.ok(Number(r.bytes) > 25 * 1024 * 1024, JSON.stringify(r));
  assert.deepEqual(
    (r.listeners as { name: string }[]).map((l) => l.name),
    ['lmtp'],
  );

  const c11nPath = join(host.dir, 'c11n');
  writeFileSync(
    c11nPath,
    readFileSync(c11nPath, 'utf8').replace(/max_message_size = \S+/, 'max_message_size = 10M'),
  );
  host.signal('SIGHUP');
  await host.waitForLog((l) => l.msg === 'reload done');
  const c = await LmtpClient.connect(port);
  try {
    await c.line();
    assert.match(await c.command('LHLO again'), new RegExp(`^250 SIZE ${10 * 1024 * 1024}$`));
    assert.match(await c.command(`MAIL FROM:<a@b> SIZE=${11 * 1024 * 1024}`), /^552 5\.3\.4/);
  } finally {
    c.close();
  }
});

/** A second host with other settings, stopped after `fn`. */
async function withHost(
  opts: Parameters<typeof personality>[0],
  fn: (h: RunningHost) => Promise<void>,
): Promise<void> {
  const d = personality(opts);
  const h = await startHost({
    dir: d,
    c11n: readFileSync(join(d, 'c11n'), 'utf8'),
    modules: [helperPaths.lmtpModule, helperPaths.pop3Module],
  });
  try {
    await fn(h);
  } finally {
    await h.stop();
  }
}

test('a Unix socket listener; DATA over max_message_size gets 552 5.3.4 per recipient and leaves no file', async () => {
  await withHost({ maxSize: '64k', lmtpExtra: 'path = lmtp.sock' }, async (h) => {
    const c = await LmtpClient.connect(join(h.dir, 'lmtp.sock'));
    try {
      assert.match(await c.line(), /^220 /);
      assert.match(await c.command('LHLO unix'), /^250 SIZE 65536$/);
      c.write(
        'MAIL FROM:<s@example.org>\r\nRCPT TO:<joe@example.com>\r\nRCPT TO:<ann@example.com>\r\nDATA\r\n',
      );
      for (const want of [/^250/, /^250/, /^250/, /^354/]) assert.match(await c.line(), want);
      await c.sendBody(`Subject: big\r\n\r\n${'b'.repeat(70)}\r\n`.repeat(1000)); // ~90 KB
      assert.match(await c.line(), /^552 5\.3\.4 <joe@example\.com>/);
      assert.match(await c.line(), /^552 5\.3\.4 <ann@example\.com>/);
      // The session goes on: a small message after it is delivered.
      c.write('MAIL FROM:<s@example.org>\r\nRCPT TO:<joe@example.com>\r\nDATA\r\n');
      for (const want of [/^250/, /^250/, /^354/]) assert.match(await c.line(), want);
      await c.sendBody('Subject: small\r\n\r\nok\r\n');
      assert.match(await c.line(), /^250 2\.0\.0/);
    } finally {
      c.close();
    }
    const joe = (sub: string) => readdirSync(join(h.dir, 'mail', 'joe', sub));
    assert.equal(joe('new').length, 1);
    assert.match(readFileSync(join(h.dir, 'mail', 'joe', 'new', joe('new')[0]), 'utf8'), /Subject: small/);
    assert.deepEqual(joe('tmp'), []);
    assert.deepEqual(readdirSync(join(h.dir, 'mail', 'ann', 'new')), []);
  });
});

test('database down: RCPT gets 451 4.3.0 and the session goes on; an idle client is timed out', async () => {
  const database =
    '[database.default]\ndriver = mysql\nhost = 127.0.0.1\nport = 1\nuser = root\ndatabase = none\nconnect_timeout = 1s';
  await withHost({ database, lmtpExtra: 'idle_timeout = 1s' }, async (h) => {
    const c = await LmtpClient.connect(h.port('lmtp'));
    try {
      await c.line();
      await c.command('LHLO down');
      assert.match(await c.command('MAIL FROM:<s@example.org>'), /^250/);
      assert.match(await c.command('RCPT TO:<joe@example.com>'), /^451 4\.3\.0 <joe@example\.com>/);
      assert.match(await c.command('DATA'), /^503 5\.5\.1/);
      assert.match(await c.command('QUIT'), /^221/);
    } finally {
      c.close();
    }
    await h.waitForLog((r) => r.msg === 'recipient lookup failed' && r.recipient === 'joe@example.com');
    // idle_timeout: a silent client is told and disconnected.
    const idle = await LmtpClient.connect(h.port('lmtp'));
    try {
      await idle.line();
      assert.match(await idle.line(), /^421 4\.4\.2/);
      await idle.closed;
    } finally {
      idle.close();
    }
    await h.waitForLog((r) => r.msg === 'disconnected: timeout,');
  });
});

test('running the module file prints its inspector summary', () => {
  const r = spawnSync(process.execPath, [helperPaths.lmtpModule], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Name: lmtp/);
  assert.match(
    r.stdout,
    /delivery_query_format_string = "SELECT maildrop FROM mailbox WHERE address = '%u' AND active = 1"/,
  );
  assert.match(r.stdout, /max_message_size = 50M/);
});

test('a delivery query asking for the password stops the start with a clear message', async () => {
  const d = personality({
    lmtpExtra: `delivery_query_format_string = "SELECT maildrop FROM mailbox WHERE password = '%p'"`,
  });
  await assert.rejects(
    startHost({
      dir: d,
      c11n: readFileSync(join(d, 'c11n'), 'utf8'),
      modules: [helperPaths.lmtpModule, helperPaths.pop3Module],
    }),
    /delivery_query_format_string.*%p/,
  );
});
