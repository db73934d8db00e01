// End to end: the real host process, the pop3 module, the real Maildir store and SQL authenticator
// over SQLite, TLS with a certificate made here, and real POP3 clients fetching and comparing bytes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { helperPaths, type RunningHost, startHost } from '../helpers/host.js';
import { connect, type Pop3Client } from '../helpers/pop3.js';
import { checkScript, commandArb } from '../helpers/pop3-fuzz.js';
import { selfSignedCert } from '../helpers/tls.js';

const CORPUS: Record<string, Buffer> = {
  '1700000001.M1P1.test': Buffer.from(
    'From: a@example.com\nSubject: dots\n\n.starts with a dot\n..two dots\n.\nlast line without newline',
  ),
  '1700000002.M2P1.test': Buffer.concat([
    Buffer.from('Subject: 8bit\nContent-Type: text/plain; charset=utf-8\n\n'),
    Buffer.from('caf\u00e9 na\u00efve \u00fcber \u2603\n', 'utf8'),
    Buffer.from([0xe9, 0xe8, 0x0a]),
  ]),
  '1700000003.M3P1.test': Buffer.from(`Subject: long line\n\n${'L'.repeat(20_000)}\nshort\n`),
  '1700000004.M4P1.test': Buffer.from('Subject: empty body\nFrom: b@example.com\n\n'),
  '1700000005.M5P1.test': Buffer.from('Subject: crlf already\r\n\r\nbody\r\n.\r\n'),
  '1700000006.M6P1.test': Buffer.from(
    `Subject: large\n\n${'0123456789 abcdefghijklmnopqrstuvwxyz .dot\n'.repeat(80_000)}`,
  ),
};
const NAMES = Object.keys(CORPUS).sort();
/** fetchmail corrupts lines longer than its 2 KB buffer (a NUL and stray bytes appear): not our bug. */
const FETCHMAIL_NAMES = NAMES.filter((n) => n !== '1700000003.M3P1.test');

/** What RETR must deliver (after un-stuffing): CRLF line ends, a final CRLF. */
function expected(raw: Buffer): Buffer {
  let s = raw.toString('latin1').replace(/\r?\n/g, '\r\n');
  if (s.length > 0 && !s.endsWith('\r\n')) s += '\r\n';
  return Buffer.from(s, 'latin1');
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

let dir: string;
let host: RunningHost;
let port: number;
let tlsPort: number;

function maildir(user: string, names = NAMES): void {
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, 'mail', user, sub), { recursive: true });
  for (const n of names) writeFileSync(join(dir, 'mail', user, 'new', n), CORPUS[n]);
}

const USERS = ['prop', 'joe', 'drop', 'dele', 'lock', 'tls', 'curl', 'py', 'fetch', 'stop', 'folder'];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pop3-host-'));
  for (const u of USERS) maildir(u, u === 'fetch' ? FETCHMAIL_NAMES : NAMES);
  mkdirSync(join(dir, 'mail', 'folder', '.Spam', 'cur'), { recursive: true });
  mkdirSync(join(dir, 'mail', 'folder', '.Spam', 'new'), { recursive: true });
  mkdirSync(join(dir, 'mail', 'folder', '.Spam', 'tmp'), { recursive: true });
  writeFileSync(
    join(dir, 'mail', 'folder', '.Spam', 'new', '1700000099.M9P9.spam'),
    'Subject: spam\n\nbuy\n',
  );
  selfSignedCert(join(dir, 'key.pem'), join(dir, 'cert.pem'));
  const rows = USERS.map(
    (u) =>
      `INSERT INTO mailbox (address, password, maildrop) VALUES ('${u}@example.com', '{PLAIN}pw-${u}', '${u}');`,
  );
  const schema = `CREATE TABLE mailbox (address TEXT PRIMARY KEY, password TEXT NOT NULL, maildrop TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);\n${rows.join('\n')}\n`;
  host = await startHost({
    dir,
    modules: [helperPaths.pop3Module],
    files: { 'schema.sql': schema },
    c11n: [
      'identity = server',
      'executes_as_root = true',
      'log_level = info',
      'drain_time = 1s',
      '[database.default]',
      'driver = sqlite',
      'path = users.sqlite',
      'init = schema.sql',
      '[pop3]',
      'address = 127.0.0.1',
      'port = 0',
      'tls_address = 127.0.0.1',
      // tls_port = 0 means "no POP3S" (r2d2), so a free port is picked here.
      `tls_port = ${await freePort()}`,
      'maildir_root = mail',
      'auth_failure_delay = 100ms',
      'plaintext_without_tls = loopback',
      'folder_pattern = \\+([^@]+)',
      `maildrop_query_format_string = "SELECT maildrop, password FROM mailbox WHERE address = '%u' AND active = 1"`,
      '',
    ].join('\n'),
  });
  port = host.port('pop3');
});

after(async () => {
  if (host) await host.stop();
});

async function login(user: string): Promise<Pop3Client> {
  const c = await connect(port);
  assert.match(await c.command(`USER ${user}@example.com`), /^\+OK/);
  const r = await c.command(`PASS pw-${user}`);
  assert.match(r, /^\+OK/, r);
  return c;
}

test('fetches every message byte-exact: sizes, UIDs, RETR, TOP', async () => {
  const c = await login('joe');
  const want = NAMES.map((n) => expected(CORPUS[n]));
  const total = want.reduce((a, b) => a + b.length, 0);
  assert.equal(await c.command('STAT'), `+OK ${NAMES.length} ${total}`);
  const list = await c.multiline('LIST');
  assert.deepEqual(
    list.lines,
    want.map((w, i) => `${i + 1} ${w.length}`),
  );
  const uidl = await c.multiline('UIDL');
  assert.deepEqual(
    uidl.lines,
    NAMES.map((n, i) => `${i + 1} ${n}`),
  );
  for (let i = 0; i < NAMES.length; i++) {
    const r = await c.multiline(`RETR ${i + 1}`);
    assert.equal(r.first, `+OK ${want[i].length} octets`);
    assert.ok(r.bytes.equals(want[i]), `message ${i + 1} (${NAMES[i]}) differs`);
  }
  const top = await c.multiline('TOP 1 0');
  assert.deepEqual(top.lines, ['From: a@example.com', 'Subject: dots', '']);
  const top2 = await c.multiline('TOP 1 1');
  assert.deepEqual(top2.lines.at(-1), '.starts with a dot');
  const topAll = await c.multiline('TOP 4 50');
  assert.ok(topAll.bytes.equals(want[3]), 'TOP beyond an empty body is the whole message');
  assert.match(await c.command('QUIT'), /^\+OK/);
  await c.waitClosed();
  const rec = await host.waitForLog(
    (r) => r.msg === 'disconnected: peer quit,' && r.user === 'joe@example.com',
  );
  assert.equal(rec.sequence, `upsLUr${NAMES.length}t3q`);
  assert.equal(rec.retrieved, NAMES.length);
  assert.equal(rec.retrieved_bytes, total);
  assert.equal(rec.left, NAMES.length);
  assert.ok(typeof rec.delays === 'number' && rec.delays > 0, 'worker hand-offs counted');
  assert.equal(readdirSync(join(dir, 'mail', 'joe', 'new')).length, 0, 'new/ moved to cur/');
});

test('dropped connection changes nothing; QUIT deletes', async () => {
  let c = await login('drop');
  assert.match(await c.command('DELE 1'), /^\+OK/);
  c.close();
  await host.waitForLog((r) => r.msg === 'disconnected: peer closed,' && r.user === 'drop@example.com');
  c = await login('drop');
  assert.match(await c.command('STAT'), new RegExp(`^\\+OK ${NAMES.length} `));
  assert.match(await c.command('DELE 1'), /^\+OK/);
  assert.match(await c.command('DELE 3'), /^\+OK/);
  assert.match(await c.command('RETR 1'), /^-ERR/);
  assert.match(await c.command('QUIT'), /^\+OK/);
  await c.waitClosed();
  const rec = await host.waitForLog(
    (r) => r.msg === 'disconnected: peer quit,' && r.user === 'drop@example.com',
  );
  assert.equal(rec.deleted, 2);
  assert.equal(rec.left, NAMES.length - 2);
  c = await login('drop');
  const uidl = await c.multiline('UIDL');
  assert.deepEqual(
    uidl.lines.map((l) => l.split(' ')[1]),
    NAMES.filter((_, i) => i !== 0 && i !== 2),
  );
  await c.command('QUIT');
});

test('IN-USE while another session holds the maildrop', async () => {
  const a = await login('lock');
  const b = await connect(port);
  await b.command('USER lock@example.com');
  assert.match(await b.command('PASS pw-lock'), /^-ERR \[IN-USE\]/);
  await a.command('QUIT');
  await a.waitClosed();
  await b.command('USER lock@example.com');
  assert.match(await b.command('PASS pw-lock'), /^\+OK/);
  await b.command('QUIT');
});

test('failed login: [AUTH], same for unknown user, logged with user and address', async () => {
  const c = await connect(port);
  await c.command('USER joe@example.com');
  const a = await c.command('PASS wrong');
  await c.command('USER nobody@example.com');
  const b = await c.command('PASS wrong');
  assert.equal(a, b);
  assert.match(a, /^-ERR \[AUTH\]/);
  c.close();
  const rec = await host.waitForLog(
    (r) => r.msg === 'login failed: invalid credentials' && r.user === 'nobody@example.com',
  );
  assert.equal(rec.address, '127.0.0.1');
  assert.ok(!host.output().includes('PASS wrong') && !host.output().includes('"wrong"'));
});

test('folder selector: user+Spam opens .Spam', async () => {
  const c = await connect(port);
  await c.command('USER folder+Spam@example.com');
  assert.match(await c.command('PASS pw-folder'), /^\+OK/);
  assert.deepEqual((await c.multiline('UIDL')).lines, ['1 1700000099.M9P9.spam']);
  await c.command('QUIT');
});

test('TLS: POP3S and STLS; CAPA offers STLS only before TLS', async () => {
  const tlsRec = host.logs.find((l) => l.msg === 'listening' && l.listener === 'pop3s');
  assert.ok(tlsRec, 'pop3s listener bound');
  tlsPort = tlsRec.port as number;
  const s = await connect(tlsPort, { tls: true });
  assert.match(s.greeting, /^\+OK/);
  const capa = await s.multiline('CAPA');
  assert.ok(capa.lines.includes('USER') && !capa.lines.includes('STLS'));
  await s.command('USER tls@example.com');
  assert.match(await s.command('PASS pw-tls'), /^\+OK/);
  const r = await s.multiline('RETR 1');
  assert.ok(r.bytes.equals(expected(CORPUS[NAMES[0]])));
  await s.command('QUIT');

  const c = await connect(port);
  assert.ok((await c.multiline('CAPA')).lines.includes('STLS'));
  // Injection: a command pipelined behind STLS must be discarded, not run after the handshake.
  c.write('STLS\r\nCAPA\r\n');
  assert.match(await c.readLine(), /^\+OK/);
  await c.startTls();
  assert.match(
    await c.command('NOOP'),
    /^-ERR/,
    'the first answer after TLS is to NOOP, not the queued CAPA',
  );
  const capa2 = await c.multiline('CAPA');
  assert.ok(!capa2.lines.includes('STLS'));
  assert.match(await c.command('STLS'), /^-ERR/);
  c.close();
});

function retrWithCurl(user: string, n: number): Buffer {
  const r = spawnSync(
    'curl',
    ['-s', '--max-time', '10', `pop3://127.0.0.1:${port}/${n}`, '-u', `${user}@example.com:pw-${user}`],
    {
      maxBuffer: 64 << 20,
    },
  );
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

test('real client: curl pop3:// fetches byte-exact', { skip: !existsSync('/usr/bin/curl') }, () => {
  for (const i of [1, 2, 3, 6]) {
    assert.ok(retrWithCurl('curl', i).equals(expected(CORPUS[NAMES[i - 1]])), `curl message ${i}`);
  }
});

test('real client: python3 poplib fetches byte-exact', () => {
  const py = spawnSync('python3', ['--version']);
  if (py.status !== 0) return;
  const script = `
import poplib, sys, hashlib
poplib._MAXLINE = 1 << 20  # the corpus has a 20,000-octet line
p = poplib.POP3('127.0.0.1', ${port}, timeout=10)
p.user('py@example.com'); p.pass_('pw-py')
n, _ = p.stat()
for i in range(1, n + 1):
    resp, lines, octets = p.retr(i)
    sys.stdout.write(hashlib.sha256(b''.join(l + b'\\r\\n' for l in lines)).hexdigest() + ' %d\\n' % octets)
p.quit()
`;
  const r = spawnSync('python3', ['-c', script], { timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr.toString());
  const got = r.stdout.toString().trim().split('\n');
  const want = NAMES.map((n) => {
    const e = expected(CORPUS[n]);
    return `${createHash('sha256').update(e).digest('hex')} ${e.length}`;
  });
  assert.deepEqual(got, want);
});

test('real client: fetchmail fetches byte-exact', { skip: !existsSync('/usr/bin/fetchmail') }, () => {
  const out = mkdtempSync(join(tmpdir(), 'fetchmail-'));
  try {
    const rc = join(out, 'rc');
    writeFileSync(
      rc,
      `poll 127.0.0.1 protocol pop3 port ${port} user "fetch@example.com" password "pw-fetch" ` +
        `sslproto '' keep no rewrite mda "cat >> ${join(out, 'mbox')}"\n`,
      { mode: 0o600 },
    );
    const r = spawnSync('fetchmail', ['-f', rc, '--invisible', '--nosyslog', '-s'], {
      timeout: 30_000,
      env: { ...process.env, HOME: out, FETCHMAILHOME: out },
    });
    assert.equal(r.status, 0, r.stderr.toString() + r.stdout.toString());
    // mda delivery uses LF line ends; --invisible: no Received header of its own.
    const want = FETCHMAIL_NAMES.map((n) =>
      expected(CORPUS[n]).toString('latin1').replace(/\r\n/g, '\n'),
    ).join('');
    const got = readFileSync(join(out, 'mbox'), 'latin1');
    assert.ok(got === want, `fetchmail output differs (${got.length} vs ${want.length} octets)`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('property: random command sequences against the real store never break the protocol', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(commandArb, { maxLength: 15 }), async (cmds) => {
      await checkScript(port, ['USER prop@example.com', 'PASS pw-prop'], cmds);
    }),
    { numRuns: 40 },
  );
  // Still serving, and the maildrop is not left locked.
  const c = await login('prop');
  await c.command('QUIT');
});

test('over-long command lines over the real listener', async () => {
  const c = await connect(port);
  assert.match(await c.command(`USER ${'u'.repeat(400)}`), /^-ERR/);
  assert.match(await c.command('NOOP'), /^-ERR/, 'still answering');
  c.write(`${'x'.repeat(300)}\r\n${'y'.repeat(300)}\r\n${'z'.repeat(300)}\r\n`);
  await c.waitClosed();
});

test('shutdown: open sessions get -ERR [SYS/TEMP] and nothing is deleted', async () => {
  const c = await login('stop');
  assert.match(await c.command('DELE 1'), /^\+OK/);
  host.signal('SIGTERM');
  const line = await c.readLine();
  assert.match(line, /^-ERR \[SYS\/TEMP\]/);
  await c.waitClosed();
  await host.waitForLog((r) => r.msg === 'disconnected: shutdown,' && r.user === 'stop@example.com');
  const files = readdirSync(join(dir, 'mail', 'stop', 'cur'));
  assert.equal(files.length, NAMES.length, 'no deletion without QUIT');
});
