// End to end on real MariaDB with r2d2's own default query (the option left unset): the r2d2
// schema, PASSWORD(), PopAttribute, and popserv-style last-login tracking by login_log_query.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { helperPaths, type RunningHost, startHost } from '../helpers/host.js';
import { connect } from '../helpers/pop3.js';

const DB = `pop3_e2e_${randomBytes(4).toString('hex')}`;
let admin: mysql.Connection | undefined;
let host: RunningHost | undefined;
let port = 0;
let available = true;

/** A TCP proxy to MariaDB that the test can cut (database down) and restore. */
class DbProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = netConnect(3306, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }
}
const proxy = new DbProxy();

before(async () => {
  try {
    admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
  } catch {
    available = false;
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pop3-maria-'));
  for (const u of ['r2', 'off']) {
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, 'mail', u, sub), { recursive: true });
    writeFileSync(join(dir, 'mail', u, 'new', '1700000200.R1P1.test'), 'Subject: maria\n\nhello\n.\n');
  }
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.query(
    `CREATE TABLE ${DB}.EmailAddress (Address VARCHAR(200) PRIMARY KEY, Password VARCHAR(100), Maildrop VARCHAR(300), PopAttribute INT, LastLogin DATETIME NULL, LastIp VARCHAR(64) NULL)`,
  );
  await admin.query(
    `INSERT INTO ${DB}.EmailAddress (Address, Password, Maildrop, PopAttribute) VALUES (?, PASSWORD(?), ?, 1), (?, PASSWORD(?), ?, 0)`,
    [
      'r2@example.com',
      'pw-r2',
      join(dir, 'mail', 'r2'),
      'off@example.com',
      'pw-off',
      join(dir, 'mail', 'off'),
    ],
  );
  await proxy.start();
  host = await startHost({
    dir,
    modules: [helperPaths.pop3Module],
    c11n: [
      'executes_as_root = true',
      'drain_time = 1s',
      '[database.default]',
      'driver = mysql',
      'host = 127.0.0.1',
      `port = ${proxy.port}`,
      'user = root',
      `database = ${DB}`,
      '[pop3]',
      'address = 127.0.0.1',
      'port = 0',
      'tls_port = 0',
      'maildir_root = mail',
      'auth_failure_delay = 50ms',
      `login_log_query = "UPDATE EmailAddress SET LastLogin = NOW(), LastIp = '%r' WHERE Address = '%u'"`,
      '',
    ].join('\n'),
  });
  port = host.port('pop3');
});

after(async () => {
  await host?.stop();
  await proxy.stop();
  if (admin) {
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.end();
  }
});

test("r2d2's default query logs in on MariaDB; PopAttribute = 0 and a wrong password do not", async (t) => {
  if (!available) return t.skip('no MariaDB on 127.0.0.1:3306');
  const c = await connect(port);
  await c.command('USER r2@example.com');
  assert.match(await c.command('PASS wrong'), /^-ERR \[AUTH\]/);
  await c.command('USER off@example.com');
  assert.match(await c.command('PASS pw-off'), /^-ERR \[AUTH\]/);
  await c.command('USER r2@example.com');
  assert.match(await c.command('PASS pw-r2'), /^\+OK/);
  const r = await c.multiline('RETR 1');
  assert.equal(r.bytes.toString(), 'Subject: maria\r\n\r\nhello\r\n.\r\n');
  assert.ok(r.raw.toString().endsWith('hello\r\n..\r\n'), 'dot-stuffed');
  await c.command('QUIT');
  await c.waitClosed();
  // The login-log query ran (asynchronously, after the answer): poll briefly.
  let row: { LastIp: string | null } | undefined;
  for (let i = 0; i < 50; i++) {
    const [rows] = await admin!.query(
      `SELECT LastIp FROM ${DB}.EmailAddress WHERE Address = 'r2@example.com'`,
    );
    row = (rows as { LastIp: string | null }[])[0];
    if (row?.LastIp) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(row?.LastIp, '127.0.0.1');
});

test('database down: -ERR [SYS/TEMP] and a log line; the next login works once it is back', async (t) => {
  if (!available) return t.skip('no MariaDB on 127.0.0.1:3306');
  await proxy.stop();
  const c = await connect(port, { timeoutMs: 15_000 });
  await c.command('USER r2@example.com');
  assert.match(await c.command('PASS pw-r2'), /^-ERR \[SYS\/TEMP\]/);
  await host!.waitForLog((r) => r.msg === 'login failed: backend unavailable' && r.user === 'r2@example.com');
  await proxy.start();
  await c.command('USER r2@example.com');
  assert.match(await c.command('PASS pw-r2'), /^\+OK/);
  await c.command('QUIT');
});
