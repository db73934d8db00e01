// The SQL Authenticator on a real MariaDB (127.0.0.1:3306, root, empty password), in a database of
// its own: r2d2's own default query and table, injection attempts, the login log, and the database
// going away and coming back (through a TCP relay the test can cut).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { pino } from 'pino';
import { createSqlAuthenticator, type SqlAuthConfig } from '../../modules/pop3/auth/sql.js';
import type { Credentials, LoginContext } from '../../modules/pop3/seams.js';
import { hashPassword } from '../../src/auth/passwords.js';
import { type DatabaseConfig, type OpenDatabase, openDatabase } from '../../src/pools/databases.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const R2D2_QUERY =
  'SELECT Maildrop FROM EmailAddress WHERE Address="%u" AND BINARY Password=PASSWORD(\'%p\') AND PopAttribute=1';
const ROOT = '/var/mail/vhosts';
const NAME = `auth_test_${process.pid}_${randomBytes(4).toString('hex')}`;

const log = pino({ level: 'silent' });
const workers = createWorkerPool({ minThreads: 1, maxThreads: 2, idleTimeoutMs: 5000 });
let admin: mysql.Connection;
const opened: OpenDatabase[] = [];

function mysqlConfig(port: number): DatabaseConfig {
  return {
    driver: 'mysql',
    host: '127.0.0.1',
    port,
    user: 'root',
    password: '',
    database: NAME,
    minConns: 1,
    maxConns: 4,
    connectTimeoutMs: 2000,
  };
}
async function open(port = 3306): Promise<OpenDatabase> {
  const db = await openDatabase('default', mysqlConfig(port), workers, log);
  opened.push(db);
  return db;
}
function ctx(): LoginContext & { session: { delays: number } } {
  return { remoteAddress: '198.51.100.9', session: { delays: 0 }, log };
}
const plain = (user: string, password: string): Credentials => ({ kind: 'plain', user, password });
const invalid = { ok: false, reason: 'invalid' };

before(async () => {
  admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
  await admin.query(`CREATE DATABASE \`${NAME}\``);
  await admin.query(`USE \`${NAME}\``);
  // r2d2's table, passwords stored with MariaDB's PASSWORD() as its default query expects.
  await admin.query(`CREATE TABLE EmailAddress (
    Address VARCHAR(255) PRIMARY KEY, Password VARCHAR(64) NOT NULL,
    Maildrop VARCHAR(255) NOT NULL, PopAttribute TINYINT NOT NULL DEFAULT 1)`);
  await admin.query(
    `INSERT INTO EmailAddress VALUES
      ('joe@example.com', PASSWORD('joe-pw'), 'example.com/joe', 1),
      ('nopop@example.com', PASSWORD('np-pw'), 'example.com/nopop', 0),
      ('evil@example.com', PASSWORD('evil-pw'), '/var/mail/vhosts/../../../etc', 1)`,
  );
  // Our schema, MySQL flavour.
  await admin.query(`CREATE TABLE mailbox (
    address VARCHAR(255) PRIMARY KEY, password VARCHAR(255) NOT NULL, maildrop VARCHAR(255) NOT NULL,
    active TINYINT NOT NULL DEFAULT 1, last_login BIGINT NULL, last_login_ip VARCHAR(64) NULL)`);
  await admin.query('INSERT INTO mailbox (address, password, maildrop) VALUES (?, ?, ?), (?, ?, ?)', [
    'ann@example.org',
    await hashPassword('ann-pw'),
    '/var/mail/vhosts/example.org/ann/',
    'pop@example.org',
    '{PLAIN}tanstaaf',
    'example.org/pop',
  ]);
});

after(async () => {
  for (const db of opened) await db.close().catch(() => {});
  await admin.query(`DROP DATABASE IF EXISTS \`${NAME}\``);
  await admin.end();
  await (workers as unknown as { close(): Promise<void> }).close();
});

test("r2d2's default query works unchanged on MariaDB", async () => {
  const db = await open();
  const cfg: SqlAuthConfig = { query: R2D2_QUERY, maildirRoot: ROOT };
  const auth = createSqlAuthenticator({ config: () => cfg, database: () => db, workers });
  const c = ctx();
  assert.deepEqual(await auth.login(plain('joe@example.com', 'joe-pw'), c), {
    ok: true,
    user: 'joe@example.com',
    maildrop: join(ROOT, 'example.com/joe'),
  });
  assert.equal(c.session.delays, 0, 'the query decided: no worker hand-off');
  assert.deepEqual(await auth.login(plain('joe@example.com', 'JOE-PW'), ctx()), invalid);
  assert.deepEqual(await auth.login(plain('nopop@example.com', 'np-pw'), ctx()), invalid);
  assert.equal(auth.apopCapable, false);
  const apop = await auth.login(
    { kind: 'apop', user: 'joe@example.com', banner: '<a@b>', digest: '0' },
    ctx(),
  );
  assert.deepEqual(apop, invalid);
  // an escaping maildrop from the database is refused
  const evil = await auth.login(plain('evil@example.com', 'evil-pw'), ctx());
  assert.equal(!evil.ok && evil.reason, 'permanent');
});

test('injection attempts against the r2d2 query change nothing', async () => {
  const db = await open();
  const cfg: SqlAuthConfig = { query: R2D2_QUERY, maildirRoot: ROOT };
  const auth = createSqlAuthenticator({ config: () => cfg, database: () => db, workers });
  const users = [
    'x" OR "1"="1',
    'joe@example.com" -- ',
    'joe@example.com" #',
    "'; DROP TABLE EmailAddress; --",
    '"; DROP TABLE EmailAddress; --',
    'joe@example.com\\',
    '%',
    '%u',
  ];
  const passwords = ["') OR ('1'='1", "x') OR 1=1 -- ", 'joe-pw\\', '%p%%'];
  for (const u of users) {
    for (const p of passwords) {
      assert.deepEqual(await auth.login(plain(u, p), ctx()), invalid, `${u} / ${p}`);
    }
  }
  const [rows] = await admin.query('SELECT COUNT(*) AS n FROM EmailAddress');
  assert.equal((rows as { n: number }[])[0].n, 3);
  // and the real user still logs in
  assert.equal((await auth.login(plain('joe@example.com', 'joe-pw'), ctx())).ok, true);
});

test('our schema on MariaDB: password column verified in the worker, APOP, login log', async () => {
  const db = await open();
  const cfg: SqlAuthConfig = {
    query: "SELECT maildrop, password FROM mailbox WHERE address = '%u' AND active = 1",
    loginLogQuery:
      "UPDATE mailbox SET last_login = UNIX_TIMESTAMP(), last_login_ip = '%r' WHERE address = '%u'",
    maildirRoot: ROOT,
  };
  const auth = createSqlAuthenticator({ config: () => cfg, database: () => db, workers });
  const c = ctx();
  const r = await auth.login(plain('ann@example.org', 'ann-pw'), c);
  assert.deepEqual(r, { ok: true, user: 'ann@example.org', maildrop: join(ROOT, 'example.org/ann') });
  assert.equal(c.session.delays, 1);
  assert.deepEqual(await auth.login(plain('ann@example.org', 'x'), ctx()), invalid);

  const banner = '<42.1700000000@mail.example.org>';
  const digest = createHash('md5').update(`${banner}tanstaaf`).digest('hex');
  assert.equal((await auth.login({ kind: 'apop', user: 'pop@example.org', banner, digest }, ctx())).ok, true);

  const t0 = Math.floor(Date.now() / 1000) - 2;
  await auth.recordLogin?.('ann@example.org', ctx());
  const [rows] = await admin.query('SELECT last_login, last_login_ip FROM mailbox WHERE address = ?', [
    'ann@example.org',
  ]);
  const row = (rows as { last_login: number; last_login_ip: string }[])[0];
  assert.equal(row.last_login_ip, '198.51.100.9');
  assert.ok(Number(row.last_login) >= t0);
});

test('SQL errors are temporary with detail, the password never in it', async () => {
  const db = await open();
  const cfg: SqlAuthConfig = {
    query: "SELECT maildrop, password FROM mailbox WHERE adress = '%u'",
    maildirRoot: ROOT,
  };
  const auth = createSqlAuthenticator({ config: () => cfg, database: () => db, workers });
  const r = await auth.login(plain('ann@example.org', 'hunter2-secret'), ctx());
  assert.equal(!r.ok && r.reason, 'temporary');
  const detail = !r.ok && r.reason === 'temporary' ? r.detail : '';
  assert.match(detail, /adress/);
  assert.ok(!detail.includes('hunter2-secret'));
});

test('database unreachable (wrong port): temporary', async () => {
  // A port that was just free: nothing listens there.
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((res) => s.close(() => res()));
  const db = await open(port);
  const cfg: SqlAuthConfig = { query: R2D2_QUERY, maildirRoot: ROOT };
  const auth = createSqlAuthenticator({ config: () => cfg, database: () => db, workers });
  const r = await auth.login(plain('joe@example.com', 'joe-pw'), ctx());
  assert.equal(!r.ok && r.reason, 'temporary');
});

/** A TCP relay to MariaDB that the test can cut (closing every connection) and restore. */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;
  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection(3306, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((res) => server.listen(this.port, '127.0.0.1', res));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }
  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((res) => server.close(() => res()));
  }
}

test('database down then back: temporary while down, the next login works once it is back', async () => {
  const relay = new Relay();
  await relay.up();
  const db = await open(relay.port);
  const cfg: SqlAuthConfig = { query: R2D2_QUERY, maildirRoot: ROOT };
  const auth = createSqlAuthenticator({ config: () => cfg, database: () => db, workers });
  try {
    assert.equal((await auth.login(plain('joe@example.com', 'joe-pw'), ctx())).ok, true);
    await relay.down();
    const down = await auth.login(plain('joe@example.com', 'joe-pw'), ctx());
    assert.equal(!down.ok && down.reason, 'temporary');
    await relay.up();
    const back = await auth.login(plain('joe@example.com', 'joe-pw'), ctx());
    assert.equal(back.ok, true, JSON.stringify(back));
  } finally {
    await relay.down();
  }
});
