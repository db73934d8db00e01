// The listener and Connection over real sockets, with a tiny line protocol as the "module".
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import pino from 'pino';
import type { Connection, Listener, ListenSpec, SessionLimiter, TlsFiles } from '../../src/api.js';
import { isHostError } from '../../src/errors.js';
import { listen } from '../../src/net/listener.js';
import { createSessionLimiter } from '../../src/pools/sessions.js';
import { selfSignedCert } from '../helpers/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'infra-net-'));
const tlsFiles: TlsFiles = { keyFile: join(dir, 'key.pem'), certFile: join(dir, 'cert.pem') };
const listeners: Listener[] = [];

before(() => {
  selfSignedCert(tlsFiles.keyFile, tlsFiles.certFile);
});
after(async () => {
  for (const l of listeners) await l.close();
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- the test "module"

interface Server {
  port: number;
  listener: Listener;
  sessions: SessionLimiter;
  conns: Connection[];
  logs: Record<string, unknown>[];
  /** Set by a handler: was the socket seen paused while a slow command ran? */
  sawPause: boolean;
  /** BIG n: when each write callback ran, and how many bytes the socket still held then. */
  written: { bytes: number; pending: number }[];
}

async function serve(
  spec: Partial<ListenSpec> = {},
  o: { idleMs?: number; maxLine?: number; stls?: TlsFiles } = {},
): Promise<Server> {
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s)) });
  const sessions = spec.sessions ?? createSessionLimiter(0, 100);
  const srv: Server = {
    port: 0,
    listener: null as unknown as Listener,
    sessions,
    conns: [],
    logs,
    sawPause: false,
    written: [],
  };
  const onConnection = (conn: Connection) => {
    srv.conns.push(conn);
    conn.write(`+OK hello ${conn.id}\r\n`);
    if (o.idleMs) conn.setIdleTimeout(o.idleMs, () => conn.end('-ERR idle timeout\r\n'));
    conn.readLines({
      maxLine: o.maxLine ?? 32,
      onOverflow: () => {
        conn.write('-ERR line too long\r\n');
      },
      onLine: (line) => {
        const text = line.toString('latin1');
        const sp = text.indexOf(' ');
        const verb = sp < 0 ? text : text.slice(0, sp);
        const arg = sp < 0 ? '' : text.slice(sp + 1);
        switch (verb) {
          case 'ECHO':
            conn.write(`+OK ${arg}\r\n`);
            return;
          case 'SLOW':
            return delay(Number(arg)).then(() => {
              if (conn.socket.isPaused()) srv.sawPause = true;
              conn.write(`+OK slow ${arg}\r\n`);
            });
          case 'BIG': {
            const n = Number(arg);
            const ok = conn.write(Buffer.alloc(n, 'b'), () =>
              srv.written.push({ bytes: n, pending: conn.socket.writableLength }),
            );
            conn.write(`\r\n+OK big ${ok}\r\n`);
            return;
          }
          case 'WHO': {
            const { remote, local, secure, proxied, loopback, id } = conn;
            conn.write(`+OK ${JSON.stringify({ id, remote, local, secure, proxied, loopback })}\r\n`);
            return;
          }
          case 'STLS':
            conn.write('+OK begin TLS\r\n');
            return conn.startTls(o.stls ?? tlsFiles).catch((e: { code?: string }) => {
              conn.write(`-ERR ${e.code}\r\n`);
            });
          case 'QUIT':
            conn.end('+OK bye\r\n');
            return;
          default:
            conn.write('-ERR unknown\r\n');
        }
      },
    });
  };
  const full: ListenSpec = {
    name: 'test',
    address: '127.0.0.1',
    port: 0,
    backlog: 64,
    trustedProxies: [],
    perIpLimit: 0,
    busyReply: '-ERR [SYS/TEMP] busy\r\n',
    ...spec,
    sessions,
  };
  srv.listener = await listen(full, onConnection, log);
  listeners.push(srv.listener);
  // The port comes from the log line, as the host's tests find it.
  const line = logs.find((l) => l.msg === 'listening');
  assert.ok(line, 'a "listening" line is logged');
  assert.equal(line.listener, 'test');
  srv.port = line.port as number;
  assert.equal(srv.port, srv.listener.port);
  return srv;
}

// ---------------------------------------------------------------- a client

class Client {
  text = '';
  ended = false;
  private wake: (() => void) | null = null;
  constructor(public sock: Socket | TLSSocket) {
    this.attach(sock);
  }
  static open(port: number, host = '127.0.0.1'): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  static openTls(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () =>
        resolve(new Client(s)),
      );
      s.once('error', reject);
    });
  }
  private attach(s: Socket | TLSSocket): void {
    s.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.wake?.();
    });
    s.on('error', () => {});
    s.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }
  send(s: string | Buffer): void {
    this.sock.write(s);
  }
  /** Wait until `pred` holds for the received text (or the socket closed), at most `ms`. */
  async until(pred: (text: string) => boolean, ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!pred(this.text)) {
      if (this.ended) throw new Error(`closed; received: ${JSON.stringify(this.text)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; received: ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.text;
  }
  lines(): string[] {
    return this.text.split('\r\n').filter((l) => l !== '');
  }
  async closed(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`still open; received: ${JSON.stringify(this.text)}`);
      await delay(10);
    }
  }
  /** STLS: hand the plain socket to a TLS client. */
  async upgrade(): Promise<void> {
    const plain = this.sock;
    plain.removeAllListeners('data');
    const t = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain as Socket, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.sock = t;
    this.attach(t);
  }
  close(): void {
    this.sock.destroy();
  }
}

function who(c: Client): Record<string, unknown> {
  const line = c.lines().find((l) => l.startsWith('+OK {'));
  assert.ok(line, `a WHO answer in ${JSON.stringify(c.text)}`);
  return JSON.parse(line.slice(4));
}

async function eventually(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await delay(5);
  }
}

// ---------------------------------------------------------------- tests

test('pipelined lines are answered in order, async ones included; one write per answer', async () => {
  const srv = await serve();
  const c = await Client.open(srv.port);
  await c.until((t) => t.includes('+OK hello'));
  c.send('ECHO 1\r\nSLOW 30\r\nECHO 2\nSLOW 5\r\nECHO 3\r\nQUIT\r\n');
  await c.closed();
  assert.deepEqual(c.lines().slice(1), ['+OK 1', '+OK slow 30', '+OK 2', '+OK slow 5', '+OK 3', '+OK bye']);
  const conn = srv.conns[0]!;
  await conn.closed;
  assert.equal(conn.log.bindings().session, conn.id);
  assert.deepEqual(srv.sessions.stats().active, 0, 'the slot went back');
});

test('write(data, written): the callback runs once the socket handed the data on, not before', async () => {
  const srv = await serve();
  const c = await Client.open(srv.port);
  await c.until((t) => t.includes('+OK hello'));
  const n = 8 * 1024 * 1024;
  c.sock.pause(); // the client reads nothing yet: the 8 MB cannot all leave
  c.send('BIG 8388608\r\n');
  await delay(200);
  assert.equal(srv.written.length, 0, 'not before the kernel took it');
  c.sock.resume();
  await c.until((t) => t.includes('+OK big false'), 10_000);
  await eventually(() => srv.written.length === 1);
  assert.equal(srv.written[0].bytes, n);
  c.close();
  await srv.conns[0]!.closed;
  // After the close a write is refused and its callback never runs.
  assert.equal(
    srv.conns[0]!.write(Buffer.alloc(10), () => srv.written.push({ bytes: -1, pending: 0 })),
    false,
  );
  await delay(20);
  assert.equal(srv.written.length, 1);
});

test('the peer half-closes after pipelining: every line is still answered, then we close', async () => {
  const srv = await serve();
  const c = await Client.open(srv.port);
  c.send('ECHO a\r\nSLOW 20\r\nECHO b\r\npartial');
  c.sock.end();
  await c.closed();
  assert.deepEqual(c.lines().slice(1), ['+OK a', '+OK slow 20', '+OK b']);
});

test('an over-long line is reported once and discarded; the session goes on', async () => {
  const srv = await serve({}, { maxLine: 16 });
  const c = await Client.open(srv.port);
  // "ECHO " + 11 = 16 octets: the cap exactly; one more is too long.
  c.send(`ECHO ${'x'.repeat(11)}\r\nECHO ${'y'.repeat(12)}\r\n`);
  c.send(`ECHO ${'z'.repeat(5000)}`);
  await delay(20);
  c.send(`${'z'.repeat(5000)}\r\nECHO ok\r\n`);
  await c.until((t) => t.includes('+OK ok'));
  assert.deepEqual(c.lines().slice(1), [
    `+OK ${'x'.repeat(11)}`,
    '-ERR line too long',
    '-ERR line too long',
    '+OK ok',
  ]);
  c.close();
});

test('backpressure: a flood behind slow commands is paused, not lost or reordered', async () => {
  const srv = await serve({}, { maxLine: 64 });
  const c = await Client.open(srv.port);
  await c.until((t) => t.includes('+OK hello'));
  const n = 4000;
  let burst = 'SLOW 50\r\n';
  for (let i = 0; i < n; i++) burst += `ECHO ${i} ${'p'.repeat(40)}\r\n`; // ~200 KB
  burst += 'SLOW 1\r\n';
  c.send(burst);
  await c.until((t) => t.includes('+OK slow 1'), 10_000);
  const got = c.lines().slice(1);
  assert.equal(got.length, n + 2);
  assert.equal(got[0], '+OK slow 50');
  for (let i = 0; i < n; i++) assert.equal(got[i + 1], `+OK ${i} ${'p'.repeat(40)}`);
  assert.ok(srv.sawPause, 'the socket was paused while input piled up');
  c.close();
});

test('STLS discards what was sent before the handshake, then reads lines over TLS', async () => {
  const srv = await serve();
  const c = await Client.open(srv.port);
  await c.until((t) => t.includes('+OK hello'));
  // The injection: a command pipelined behind STLS in the same packet.
  c.send('STLS\r\nECHO injected\r\n');
  await c.until((t) => t.includes('+OK begin TLS\r\n'));
  await c.upgrade();
  c.send('ECHO after\r\nWHO\r\n');
  await c.until((t) => t.includes('+OK {'));
  assert.ok(!c.text.includes('injected'), c.text);
  assert.ok(c.text.includes('+OK after'));
  assert.equal(who(c).secure, true);
  assert.equal(srv.conns[0]!.secure, true);
  c.send('QUIT\r\n');
  await c.closed();
  await srv.conns[0]!.closed;
  assert.equal(srv.sessions.stats().active, 0);
});

test('STLS without a usable certificate: TLS_UNAVAILABLE, plaintext goes on', async () => {
  const srv = await serve({}, { stls: { keyFile: join(dir, 'none.pem'), certFile: join(dir, 'none.pem') } });
  const c = await Client.open(srv.port);
  c.send('STLS\r\n');
  await c.until((t) => t.includes('-ERR TLS_UNAVAILABLE'));
  c.send('ECHO plain\r\n');
  await c.until((t) => t.includes('+OK plain'));
  assert.equal(srv.conns[0]!.secure, false);
  c.close();
});

test('implicit TLS listener; a certificate reload is used by the next client', async () => {
  const srv = await serve({ tls: tlsFiles });
  const c = await Client.openTls(srv.port);
  c.send('WHO\r\n');
  await c.until((t) => t.includes('+OK {'));
  assert.equal(who(c).secure, true);
  const first = (c.sock as TLSSocket).getPeerCertificate().fingerprint256;
  c.close();

  const second: TlsFiles = { keyFile: join(dir, 'key2.pem'), certFile: join(dir, 'cert2.pem') };
  selfSignedCert(second.keyFile, second.certFile, 'renewed');
  srv.listener.update({ tls: second });
  const d = await Client.openTls(srv.port);
  const cert = (d.sock as TLSSocket).getPeerCertificate();
  assert.notEqual(cert.fingerprint256, first);
  assert.equal(cert.subject.CN, 'renewed');
  d.close();
});

test('PROXY v1 from a trusted peer gives the client address; a command may follow in the same packet', async () => {
  const srv = await serve({ trustedProxies: ['127.0.0.0/8', '::1'] });
  const c = await Client.open(srv.port);
  c.send('PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\r\nWHO\r\n');
  await c.until((t) => t.includes('+OK {'));
  const w = who(c);
  assert.deepEqual(w.remote, { address: '192.0.2.7', port: 56324 });
  assert.deepEqual(w.local, { address: '198.51.100.1', port: 110 });
  assert.equal(w.proxied, true);
  assert.equal(w.loopback, false);
  c.close();
});

test('PROXY v2 over implicit TLS: the header, then the TLS handshake', async () => {
  const srv = await serve({ trustedProxies: ['127.0.0.1'], tls: tlsFiles });
  const hdr = Buffer.concat([
    Buffer.from('0d0a0d0a000d0a515549540a', 'hex'),
    Buffer.from([0x21, 0x21, 0x00, 36]),
    Buffer.from('20010db8000000000000000000000099', 'hex'),
    Buffer.from('20010db8000000000000000000000001', 'hex'),
    Buffer.from([0xc3, 0x50, 0x03, 0xe3]), // 50000, 995
  ]);
  const raw = connect(srv.port, '127.0.0.1');
  await new Promise((resolve) => raw.once('connect', resolve));
  raw.write(hdr);
  const t = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ socket: raw, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
  const c = new Client(t);
  c.send('WHO\r\n');
  await c.until((x) => x.includes('+OK {'));
  const w = who(c);
  assert.deepEqual(w.remote, { address: '2001:db8::99', port: 50000 });
  assert.deepEqual(w.local, { address: '2001:db8::1', port: 995 });
  assert.equal(w.secure, true);
  assert.equal(w.proxied, true);
  c.close();
});

test('a trusted peer without a valid PROXY header is dropped; an untrusted one is not parsed', async () => {
  const srv = await serve({ trustedProxies: ['127.0.0.1'] });
  const c = await Client.open(srv.port);
  c.send('USER joe\r\n');
  await c.closed();
  assert.equal(c.text, '', 'no greeting for a broken header');
  assert.equal(srv.conns.length, 0);

  const open = await serve({ trustedProxies: ['10.0.0.0/8'] });
  const d = await Client.open(open.port);
  d.send('PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\nWHO\r\n');
  await d.until((t) => t.includes('+OK {'));
  assert.equal(who(d).proxied, false);
  assert.equal((who(d).remote as { address: string }).address, '127.0.0.1');
  assert.equal(who(d).loopback, true);
  d.close();
});

test('per-IP limit: the busy reply, then room again once a session ends', async () => {
  const srv = await serve({ perIpLimit: 2 });
  const a = await Client.open(srv.port);
  const b = await Client.open(srv.port);
  await a.until((t) => t.includes('+OK hello'));
  await b.until((t) => t.includes('+OK hello'));
  const c = await Client.open(srv.port);
  await c.closed();
  assert.equal(c.text, '-ERR [SYS/TEMP] busy\r\n');
  assert.ok(srv.logs.some((l) => l.msg === 'connection refused' && l.reason === 'per-IP limit'));
  a.send('QUIT\r\n');
  await a.closed();
  await srv.conns[0]!.closed;
  const d = await Client.open(srv.port);
  await d.until((t) => t.includes('+OK hello'));
  assert.equal(srv.sessions.stats().refused, 0, 'per-IP refusals do not take a session slot');
  b.close();
  d.close();
});

test('session limit: the busy reply, counted as refused; the slot comes back on close', async () => {
  const sessions = createSessionLimiter(1, 1);
  const srv = await serve({ sessions, busyReply: '-ERR [SYS/TEMP] too many\r\n' });
  const a = await Client.open(srv.port);
  await a.until((t) => t.includes('+OK hello'));
  const b = await Client.open(srv.port);
  await b.closed();
  assert.equal(b.text, '-ERR [SYS/TEMP] too many\r\n');
  assert.deepEqual(sessions.stats(), { min: 1, max: 1, active: 1, total: 1, refused: 1 });
  a.close(); // an abrupt close releases too
  await srv.conns[0]!.closed;
  await eventually(() => sessions.stats().active === 0);
  const c = await Client.open(srv.port);
  await c.until((t) => t.includes('+OK hello'));
  c.close();
});

test('busy reply on an implicit-TLS listener is sent inside TLS', async () => {
  const srv = await serve({ tls: tlsFiles, sessions: createSessionLimiter(0, 0) });
  const c = await Client.openTls(srv.port);
  await c.closed();
  assert.equal(c.text, '-ERR [SYS/TEMP] busy\r\n');
});

test('the idle timeout fires; input resets it', async () => {
  const srv = await serve({}, { idleMs: 150 });
  const c = await Client.open(srv.port);
  const t0 = Date.now();
  for (let i = 0; i < 4; i++) {
    await delay(80);
    c.send('ECHO alive\r\n');
  }
  await c.closed();
  assert.ok(Date.now() - t0 >= 320 + 150 - 30, 'activity kept the session open');
  assert.match(c.text, /-ERR idle timeout\r\n$/);
  assert.equal(c.lines().filter((l) => l === '+OK alive').length, 4);
});

test('a Unix socket listener replaces a stale socket file', async () => {
  const path = join(dir, 'lmtp.sock');
  execFileSync('python3', [
    '-c',
    `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`,
  ]);
  assert.ok(statSync(path).isSocket());
  const srv = await serve({ path, address: '', port: 0 });
  assert.equal(srv.listener.address, path);
  const c = await new Promise<Client>((resolve, reject) => {
    const s = connect(path, () => resolve(new Client(s)));
    s.once('error', reject);
  });
  c.send('WHO\r\n');
  await c.until((t) => t.includes('+OK {'));
  assert.equal(who(c).loopback, true);
  c.close();
});

test('close() stops accepting but leaves open sessions alone', async () => {
  const srv = await serve();
  const a = await Client.open(srv.port);
  await a.until((t) => t.includes('+OK hello'));
  await srv.listener.close();
  await assert.rejects(Client.open(srv.port));
  a.send('ECHO still\r\n');
  await a.until((t) => t.includes('+OK still'));
  a.close();
});

test('session ids count up per process; write() after close is refused quietly', async () => {
  const srv = await serve();
  const a = await Client.open(srv.port);
  const b = await Client.open(srv.port);
  await a.until((t) => t.includes('+OK hello'));
  await b.until((t) => t.includes('+OK hello'));
  const [x, y] = srv.conns as [Connection, Connection];
  assert.ok(x.id >= 1 && y.id === x.id + 1);
  a.close();
  await x.closed;
  assert.equal(x.write('late\r\n'), false);
  b.close();
});

test('bind failures and bad trusted-proxy entries are HostError LISTEN', async () => {
  const srv = await serve();
  await assert.rejects(
    serve({ port: srv.port }),
    (e) => isHostError(e, 'LISTEN') && /127\.0\.0\.1/.test(e.message),
  );
  await assert.rejects(serve({ trustedProxies: ['10.0.0.0/33'] }), (e) => isHostError(e, 'LISTEN'));
  await assert.rejects(serve({ trustedProxies: ['proxy.example'] }), (e) => isHostError(e, 'LISTEN'));
  await assert.rejects(serve({ tls: { keyFile: join(dir, 'nope'), certFile: join(dir, 'nope') } }), (e) =>
    isHostError(e, 'TLS_UNAVAILABLE'),
  );
});

test('reload: a lower per-IP limit and a new busy reply apply to the next client', async () => {
  const srv = await serve({ perIpLimit: 0 });
  const a = await Client.open(srv.port);
  await a.until((t) => t.includes('+OK hello'));
  srv.listener.update({ perIpLimit: 1, busyReply: '-ERR [SYS/TEMP] reloaded\r\n' });
  const b = await Client.open(srv.port);
  await b.closed();
  assert.equal(b.text, '-ERR [SYS/TEMP] reloaded\r\n');
  a.close();
});

test('behind a trusted proxy the per-IP limit counts the real client address', async () => {
  const srv = await serve({ trustedProxies: ['127.0.0.1'], perIpLimit: 1 });
  const via = async (src: string) => {
    const c = await Client.open(srv.port);
    c.send(`PROXY TCP4 ${src} 10.0.0.1 40000 110\r\n`);
    return c;
  };
  const a = await via('192.0.2.1');
  const b = await via('192.0.2.2');
  await a.until((t) => t.includes('+OK hello'));
  await b.until((t) => t.includes('+OK hello'));
  const c = await via('192.0.2.1');
  await c.closed();
  assert.equal(c.text, '-ERR [SYS/TEMP] busy\r\n');
  a.close();
  b.close();
});
