// What the other seed servers offered, end to end through the real host: system users from
// fixture passwd/shadow files (popa3d, nupop), mbox spool files and the auto store, popa3d's log
// lines, popserv's UDP login notification with its HMAC, `host serve-stdio` driven through pipes,
// through a TCP socket as stdin/stdout (inetd), through socat and tcpserver, and systemd socket
// activation (LISTEN_FDS) of the normal listener.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, type StdioOptions, spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import {
  helperPaths,
  type LogRecord,
  makePersonality,
  type RunningHost,
  startHost,
} from '../helpers/host.js';
import { connect, Pop3Client } from '../helpers/pop3.js';
import { selfSignedCert } from '../helpers/tls.js';

const FROM = 'From alice@example.com Tue Mar 27 16:57:44 2012\n';
const MSGS = [
  'From: alice@example.com\nSubject: one\n\nHello\nFrom inside a body\n',
  'Subject: two\n\n>From quoted\n.dot\n',
  'Subject: three\n\nno final newline',
];
const MBOX = MSGS.map((m) => `${FROM}${m}`).join('\n');
const wire = (m: string) => {
  let s = m.replace(/^>(>*From )/gm, '$1').replace(/\n/g, '\r\n');
  if (!s.endsWith('\r\n')) s += '\r\n';
  return s;
};
const SIZES = MSGS.map((m) => Buffer.byteLength(wire(m)));
const TOTAL = SIZES.reduce((a, b) => a + b, 0);
const SECRET = 'udp-s3cret';

let dir: string;
let host: RunningHost;
let port: number;
const datagrams: Buffer[] = [];
const udp = createSocket('udp4');
let udpPort = 0;

function hash(pw: string): string {
  return execFileSync('openssl', ['passwd', '-6', '-salt', 'fixturesalt', pw], { encoding: 'utf8' }).trim();
}

/** A fresh spool file for a user. */
function spool(user: string, content = MBOX): void {
  writeFileSync(join(dir, 'spool', user), content);
}

before(async () => {
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  udpPort = udp.address().port;
  udp.on('message', (m) => datagrams.push(m));
  const users = ['joe', 'stdio', 'inetd', 'socat', 'tcpsrv', 'act'];
  const pw = hash('secret');
  const passwd = [
    'root:x:0:0:root:/root:/bin/bash',
    'daemon:x:999:999::/nonexistent:/usr/sbin/nologin',
    'locked:x:1500:1500::/home/locked:/bin/sh',
    'mdir:x:1501:1501::/home/mdir:/bin/sh',
    ...users.map((u, i) => `${u}:x:${1001 + i}:${1001 + i}:${u}:/home/${u}:/bin/sh`),
  ];
  const shadow = [
    `root:${pw}:19000:0:99999:7:::`,
    `daemon:${pw}:19000:0:99999:7:::`,
    `locked:!${pw}:19000:0:99999:7:::`,
    `mdir:${pw}:19000:0:99999:7:::`,
    ...users.map((u) => `${u}:${pw}:19000:0:99999:7:::`),
  ];
  dir = makePersonality({
    modules: [helperPaths.pop3Module],
    files: { passwd: `${passwd.join('\n')}\n`, shadow: `${shadow.join('\n')}\n` },
    c11n: '',
  });
  mkdirSync(join(dir, 'spool'));
  mkdirSync(join(dir, 'mail'));
  for (const u of [...users, 'root', 'daemon', 'locked']) spool(u);
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, 'spool', 'mdir', sub), { recursive: true });
  writeFileSync(join(dir, 'spool', 'mdir', 'new', '1700000001.M1P1.test'), 'Subject: maildir\n\nhi\n');
  const c11n = [
    'log_format = json',
    'identity = server',
    'executes_as_root = true',
    'log_level = info',
    'drain_time = 1s',
    '[pop3]',
    'address = 127.0.0.1',
    'port = 0',
    'tls_port = 0',
    'maildir_root = mail',
    'auth = system',
    'popa3d_log = true',
    'system_passwd_file = passwd',
    'system_shadow_file = shadow',
    `system_mail_path = ${dir}/spool/%u`,
    'auth_failure_delay = 50ms',
    'auth_failure_max_delay = 100ms',
    'auth_failure_limit = 10',
    `notify_udp_destination = 127.0.0.1:${udpPort}`,
    `notify_udp_secret = ${SECRET}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'c11n'), c11n);
  host = await startHost({ dir, modules: [], c11n });
  port = host.port('pop3');
});

after(async () => {
  if (host) await host.stop();
  udp.close();
});

/** USER/PASS; resolves with the PASS answer. */
async function login(c: Pop3Client, user: string, pw = 'secret'): Promise<string> {
  assert.match(await c.command(`USER ${user}`), /^\+OK/);
  return c.command(`PASS ${pw}`);
}

/** The standard session over any transport: login, STAT, RETR every message, DELE 1, QUIT. */
async function session(c: Pop3Client, user: string): Promise<void> {
  assert.match(c.greeting, /^\+OK/);
  assert.match(await login(c, user), /^\+OK/);
  assert.equal(await c.command('STAT'), `+OK 3 ${TOTAL}`);
  for (let i = 0; i < 3; i++) {
    const r = await c.multiline(`RETR ${i + 1}`);
    assert.equal(r.bytes.toString('latin1'), wire(MSGS[i]), `RETR ${i + 1}`);
  }
  assert.match(await c.command('DELE 1'), /^\+OK/);
  assert.match(await c.command('QUIT'), /^\+OK/);
  await c.waitClosed();
}

function waitFor<T>(what: string, take: () => T | undefined, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = () => {
      const v = take();
      if (v !== undefined) return resolve(v);
      if (Date.now() > deadline) return reject(new Error(`timeout waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

function parseNotice(d: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of d.toString('utf8').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) out[line.slice(0, sp)] = line.slice(sp + 1);
  }
  return out;
}

test('system user over TCP: mbox maildrop, popa3d log lines, spool rewritten on QUIT', async () => {
  const c = await connect(port);
  await session(c, 'joe');
  const rec = (msg: string) => host.waitForLog((r) => r.msg === msg);
  await rec('Authentication passed for joe');
  await rec(`3 messages (${TOTAL} bytes) loaded`);
  await rec(`1 (${SIZES[0]}) deleted, 2 (${SIZES[1] + SIZES[2]}) left`);
  const bye = await host.waitForLog(
    (r) => typeof r.msg === 'string' && r.msg.startsWith('disconnected: peer quit'),
  );
  assert.equal(bye.user, 'joe');
  assert.equal(bye.deleted, 1);
  assert.equal(
    readFileSync(join(dir, 'spool', 'joe'), 'latin1'),
    MSGS.slice(1)
      .map((m) => `${FROM}${m}`)
      .join('\n'),
  );
});

test('login notification: one datagram with every field and a valid HMAC-SHA256', async () => {
  const d = await waitFor('a datagram for joe', () => datagrams.find((x) => x.includes('user joe\n')));
  const text = d.toString('utf8');
  assert.ok(text.endsWith('\n.\n'), 'ends with a dot line');
  const f = parseNotice(d);
  assert.equal(f.service, 'pop');
  assert.equal(f.user, 'joe');
  assert.equal(f.ip, '127.0.0.1');
  assert.ok(Math.abs(Number(f.time) - Date.now() / 1000) < 60);
  assert.ok(f.source.length > 0);
  assert.match(f.nonce, /^[0-9a-f]{16}$/);
  const signed = text.slice(0, text.indexOf('hmac-sha256 '));
  assert.equal(f['hmac-sha256'], createHmac('sha256', SECRET).update(signed).digest('hex'));
  // A tampered field no longer verifies.
  const forged = signed.replace('user joe', 'user eve');
  assert.notEqual(f['hmac-sha256'], createHmac('sha256', SECRET).update(forged).digest('hex'));
});

test('system users: root, uid < min_uid, locked, wrong password and unknown are refused alike', async () => {
  const before = datagrams.length;
  for (const [user, pw] of [
    ['root', 'secret'],
    ['daemon', 'secret'],
    ['locked', 'secret'],
    ['joe', 'wrong'],
    ['nosuchuser', 'secret'],
    ['../joe', 'secret'],
  ]) {
    const c = await connect(port);
    assert.equal(await login(c, user, pw), '-ERR [AUTH] invalid user name or password', user);
    c.close();
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(datagrams.length, before, 'no notification for a failed login');
});

test('auto store: a directory from the template is opened as a Maildir', async () => {
  const c = await connect(port);
  assert.match(await login(c, 'mdir'), /^\+OK/);
  const u = await c.multiline('UIDL');
  assert.deepEqual(u.lines, ['1 1700000001.M1P1.test']);
  assert.match(await c.command('QUIT'), /^\+OK/);
});

// ---------------------------------------------------------------- serve-stdio

interface Child {
  proc: ChildProcess;
  logs: LogRecord[];
  stderr(): string;
  exited: Promise<number | null>;
}

function spawnLogged(cmd: string, args: string[], stdio: StdioOptions, env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(cmd, args, { stdio, env: { ...process.env, ...env } });
  const logs: LogRecord[] = [];
  let raw = '';
  let buf = '';
  const errStream = proc.stdio[2];
  errStream?.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as LogRecord);
      } catch {
        raw += `${line}\n`;
      }
      nl = buf.indexOf('\n');
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  exited.then(() => clearTimeout(timer));
  return { proc, logs, stderr: () => raw + logs.map((l) => JSON.stringify(l)).join('\n'), exited };
}

function disconnectLine(ch: Child): LogRecord | undefined {
  return ch.logs.find((r) => typeof r.msg === 'string' && r.msg.startsWith('disconnected:'));
}

async function exitCode(ch: Child): Promise<number | null> {
  return Promise.race([
    ch.exited,
    new Promise<null>((_, reject) =>
      setTimeout(() => reject(new Error(`no exit; stderr:\n${ch.stderr()}`)), 10_000),
    ),
  ]);
}

test('serve-stdio over two pipes: one session, logs on stderr, exit 0', async () => {
  spool('stdio');
  const ch = spawnLogged(
    process.execPath,
    [helperPaths.mainJs, 'serve-stdio', dir],
    ['pipe', 'pipe', 'pipe'],
  );
  const duplex = Duplex.from({ readable: ch.proc.stdout!, writable: ch.proc.stdin! });
  // The server closing its output is the end of the connection for this client.
  ch.proc.stdout?.on('end', () => duplex.destroy());
  const c = new Pop3Client(duplex as unknown as Socket, 5000);
  c.greeting = await c.readLine();
  await session(c, 'stdio');
  assert.equal(await exitCode(ch), 0, ch.stderr());
  const bye = disconnectLine(ch);
  assert.ok(bye, ch.stderr());
  assert.equal(bye.user, 'stdio');
  assert.equal(bye.address, 'stdio');
  assert.equal(bye.deleted, 1);
  assert.ok(ch.logs.some((r) => r.msg === 'Authentication passed for stdio'));
  assert.ok(ch.logs.some((r) => r.msg === `1 (${SIZES[0]}) deleted, 2 (${SIZES[1] + SIZES[2]}) left`));
});

test('serve-stdio with a TCP socket as stdin and stdout (inetd): the peer address is the socket peer', async () => {
  spool('inetd');
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const accepted = new Promise<Socket>((r) => srv.once('connection', r));
  const clientSock = netConnect({
    host: '127.0.0.1',
    port: typeof addr === 'object' && addr ? addr.port : 0,
  });
  const serverSide = await accepted;
  const ch = spawnLogged(
    process.execPath,
    [helperPaths.mainJs, 'serve-stdio', dir, 'pop3'],
    [serverSide, serverSide, 'pipe'],
  );
  serverSide.destroy(); // the child holds its own copy
  srv.close();
  const c = new Pop3Client(clientSock, 5000);
  c.greeting = await c.readLine();
  await session(c, 'inetd');
  assert.equal(await exitCode(ch), 0, ch.stderr());
  const bye = disconnectLine(ch);
  assert.equal(bye?.address, '127.0.0.1', ch.stderr());
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof a === 'object' && a ? a.port : 0;
}

/** Connect once the super-server listens (bounded). */
async function connectWhenUp(p: number): Promise<Pop3Client> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await connect(p);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

test('serve-stdio under socat (EXEC on a socketpair; SOCAT_PEERADDR)', async () => {
  spool('socat');
  const p = await freePort();
  const ch = spawnLogged(
    'socat',
    [
      `TCP-LISTEN:${p},bind=127.0.0.1,reuseaddr`,
      `EXEC:${process.execPath} ${helperPaths.mainJs} serve-stdio ${dir}`,
    ],
    ['ignore', 'ignore', 'pipe'],
  );
  try {
    const c = await connectWhenUp(p);
    await session(c, 'socat');
    await waitFor('the disconnect line', () => disconnectLine(ch));
    const bye = disconnectLine(ch);
    assert.equal(bye?.address, '127.0.0.1');
    assert.equal(bye?.user, 'socat');
  } finally {
    ch.proc.kill('SIGTERM');
  }
});

const hasTcpserver = spawnSync('sh', ['-c', 'command -v tcpserver']).status === 0;

test('serve-stdio under tcpserver (ucspi-tcp; TCPREMOTEIP)', {
  skip: !hasTcpserver && 'tcpserver not installed',
}, async () => {
  spool('tcpsrv');
  const p = await freePort();
  const ch = spawnLogged(
    'tcpserver',
    [
      '-q',
      '-R',
      '-H',
      '-l',
      'localhost',
      '127.0.0.1',
      String(p),
      process.execPath,
      helperPaths.mainJs,
      'serve-stdio',
      dir,
    ],
    ['ignore', 'ignore', 'pipe'],
  );
  try {
    const c = await connectWhenUp(p);
    await session(c, 'tcpsrv');
    await waitFor('the disconnect line', () => disconnectLine(ch));
    assert.equal(disconnectLine(ch)?.address, '127.0.0.1');
    assert.equal(disconnectLine(ch)?.user, 'tcpsrv');
  } finally {
    ch.proc.kill('SIGTERM');
  }
});

test('systemd socket activation: the host serves an inherited listening socket (LISTEN_FDS)', async () => {
  spool('act');
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  const p = typeof a === 'object' && a ? a.port : 0;
  const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
  // LISTEN_PID must be the host's own pid: sh sets it to $$, then exec keeps that pid.
  const ch = spawnLogged(
    'sh',
    [
      '-c',
      'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=pop3 exec "$@"',
      'sh',
      process.execPath,
      helperPaths.mainJs,
      'start',
      dir,
    ],
    ['ignore', 'pipe', 'pipe', fd],
  );
  srv.close(); // the child keeps its copy; only it accepts now
  // Logs go to stdout under `host start`.
  let out = '';
  ch.proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  try {
    const listening = await waitFor('listening on the inherited fd', () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogRecord)
        .find((r) => r.msg === 'listening' && r.listener === 'pop3'),
    );
    assert.equal(listening.fd, 3);
    assert.equal(listening.port, p);
    const c = await connectWhenUp(p);
    await session(c, 'act');
  } finally {
    ch.proc.kill('SIGTERM');
    await exitCode(ch).catch(() => null);
  }
});

/** A TCP pair: the test keeps the client end, the child gets the accepted end as stdin/stdout. */
async function inetdPair(): Promise<{ client: Socket; server: Socket; close(): void }> {
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  const accepted = new Promise<Socket>((r) => srv.once('connection', r));
  const client = netConnect({ host: '127.0.0.1', port: typeof a === 'object' && a ? a.port : 0 });
  const server = await accepted;
  return { client, server, close: () => srv.close() };
}

test('serve-stdio with TLS: implicit TLS for MODULE pop3s (inetd on 995), and STLS on the plain one', async () => {
  const tdir = makePersonality({
    modules: [helperPaths.pop3Module],
    files: {
      passwd: readFileSync(join(dir, 'passwd')),
      shadow: readFileSync(join(dir, 'shadow')),
    },
    // tls_port is never bound by serve-stdio; it only makes the module open its pop3s listener.
    c11n: readFileSync(join(dir, 'c11n'), 'utf8').replace('tls_port = 0', 'tls_port = 1'),
  });
  selfSignedCert(join(tdir, 'key.pem'), join(tdir, 'cert.pem'));
  try {
    // Implicit TLS.
    spool('inetd');
    let pair = await inetdPair();
    let ch = spawnLogged(
      process.execPath,
      [helperPaths.mainJs, 'serve-stdio', tdir, 'pop3s'],
      [pair.server, pair.server, 'pipe'],
    );
    pair.server.destroy();
    pair.close();
    const tlsSock = tlsConnect({ socket: pair.client, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      tlsSock.once('secureConnect', resolve);
      tlsSock.once('error', reject);
    });
    let c = new Pop3Client(tlsSock, 5000);
    c.greeting = await c.readLine();
    await session(c, 'inetd');
    assert.equal(await exitCode(ch), 0, ch.stderr());
    const login = ch.logs.find((r) => r.msg === 'login');
    assert.equal(login?.tls, true, ch.stderr());
    // STLS on the plain listener.
    spool('inetd');
    pair = await inetdPair();
    ch = spawnLogged(
      process.execPath,
      [helperPaths.mainJs, 'serve-stdio', tdir],
      [pair.server, pair.server, 'pipe'],
    );
    pair.server.destroy();
    pair.close();
    c = new Pop3Client(pair.client, 5000);
    c.greeting = await c.readLine();
    const capa = await c.multiline('CAPA');
    assert.ok(capa.lines.includes('STLS'), capa.lines.join(','));
    assert.match(await c.command('STLS'), /^\+OK/);
    await c.startTls();
    await session(c, 'inetd');
    assert.equal(await exitCode(ch), 0, ch.stderr());
    assert.equal(ch.logs.find((r) => r.msg === 'login')?.tls, true, ch.stderr());
  } finally {
    rmSync(tdir, { recursive: true, force: true });
  }
});

test('serve-stdio --wait: inetd wait mode (popserv -i), the server accepts on the listening socket in fd 0', async () => {
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  const p = typeof a === 'object' && a ? a.port : 0;
  const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
  const ch = spawnLogged(
    process.execPath,
    [helperPaths.mainJs, 'serve-stdio', '--wait', dir],
    [fd, 'ignore', 'pipe'],
  );
  srv.close();
  try {
    const listening = await waitFor('listening on fd 0', () =>
      ch.logs.find((r) => r.msg === 'listening' && r.listener === 'pop3'),
    );
    assert.equal(listening.fd, 0);
    assert.equal(listening.port, p);
    // Two sessions at once: it is a real server now, not one session.
    spool('inetd');
    spool('socat');
    const [c1, c2] = await Promise.all([connectWhenUp(p), connectWhenUp(p)]);
    await Promise.all([session(c1, 'inetd'), session(c2, 'socat')]);
    ch.proc.kill('SIGTERM');
    assert.equal(await exitCode(ch), 0, ch.stderr());
    assert.equal(
      ch.logs.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('disconnected: peer quit')).length,
      2,
    );
  } finally {
    ch.proc.kill('SIGKILL');
  }
});
