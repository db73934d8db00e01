// Real MariaDB on 127.0.0.1:3306 (root, empty password); a TCP relay in between lets the test
// take the "server" away and bring it back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import pino from 'pino';
import { isHostError } from '../../src/errors.js';
import { type DatabaseConfig, type OpenDatabase, openDatabase } from '../../src/pools/databases.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const name = `infra_test_${process.pid}_${randomBytes(3).toString('hex')}`;
const workers = createWorkerPool({ minThreads: 0, maxThreads: 1, idleTimeoutMs: 500 });
const log = pino({ level: 'silent' });
let admin: mysql.Connection;
const opened: OpenDatabase[] = [];

function config(port: number, extra: Partial<DatabaseConfig> = {}): DatabaseConfig {
  return {
    driver: 'mysql',
    host: '127.0.0.1',
    port,
    user: 'root',
    password: '',
    database: name,
    minConns: 2,
    maxConns: 4,
    connectTimeoutMs: 2000,
    ...extra,
  } as DatabaseConfig;
}

async function open(port: number): Promise<OpenDatabase> {
  const db = await openDatabase('main', config(port), workers, log);
  opened.push(db);
  return db;
}

/** A relay to MariaDB that can be stopped (connections cut) and started again on the same port. */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;
  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(3306, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    const a = server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    this.server = server;
  }
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const a = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return typeof a === 'object' && a !== null ? a.port : 1;
}

before(async () => {
  admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
  await admin.query(`CREATE DATABASE \`${name}\``);
  await admin.query(
    `CREATE TABLE \`${name}\`.users (address VARCHAR(200) PRIMARY KEY, maildrop VARCHAR(200) NOT NULL, password VARCHAR(200), n INT)`,
  );
  await admin.query(`INSERT INTO \`${name}\`.users VALUES ('joe@example.com', '/m/joe', '{PLAIN}x', 1)`);
});

after(async () => {
  for (const db of opened) await db.close().catch(() => {});
  await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await admin.end();
  await workers.close();
});

test('bound parameters, column order, affectedRows, stats', async () => {
  const db = await open(3306);
  assert.equal(db.driver, 'mysql');
  const rows = await db.query('SELECT maildrop, address, n FROM users WHERE address = ?', [
    'joe@example.com',
  ]);
  assert.deepEqual(rows, [{ maildrop: '/m/joe', address: 'joe@example.com', n: 1 }]);
  assert.deepEqual(Object.keys(rows[0]!), ['maildrop', 'address', 'n']);
  assert.deepEqual(await db.query('SELECT * FROM users WHERE address = ?', [`x" OR "1"="1`]), []);
  assert.deepEqual(
    await db.execute('INSERT INTO users (address, maildrop, password, n) VALUES (?, ?, ?, ?)', [
      'ann@example.com',
      '/m/ann',
      undefined,
      true,
    ]),
    { affectedRows: 1 },
  );
  assert.deepEqual(await db.execute('UPDATE users SET n = n + ?', [1]), { affectedRows: 2 });
  const [ann] = await db.query('SELECT password, n FROM users WHERE address = ?', ['ann@example.com']);
  assert.deepEqual(ann, { password: null, n: 2 });
  const st = db.stats();
  assert.equal(st.driver, 'mysql');
  assert.equal(st.min, 2);
  assert.equal(st.max, 4);
  assert.ok(st.total >= 2 && st.total <= 4, `warm connections: ${st.total}`);
  assert.equal(st.busy, 0);
  assert.equal(st.queries, 5);
});

test('a query the server refuses is DB_QUERY; the next one works', async () => {
  const db = await open(3306);
  await assert.rejects(db.query('SELECT nope FROM users'), (e) => isHostError(e, 'DB_QUERY'));
  await assert.rejects(db.execute('INSERT INTO users (address) VALUES (?)', ['joe@example.com']), (e) =>
    isHostError(e, 'DB_QUERY'),
  );
  assert.equal(db.stats().errors, 2);
  assert.equal((await db.query('SELECT 1 AS one'))[0]?.one, 1);
});

test('an unreachable server does not fail open; queries are DB_UNAVAILABLE', async () => {
  const db = await open(await freePort());
  await assert.rejects(db.query('SELECT 1'), (e) => isHostError(e, 'DB_UNAVAILABLE'));
  assert.equal(db.stats().errors, 1);
});

test('a server that goes away and comes back: DB_UNAVAILABLE, then success', async () => {
  const relay = new Relay();
  await relay.start();
  const db = await open(relay.port);
  assert.equal((await db.query('SELECT count(*) AS c FROM users'))[0]?.c, 2);
  await relay.stop();
  await assert.rejects(db.query('SELECT 1'), (e) => isHostError(e, 'DB_UNAVAILABLE'));
  await relay.start();
  // The connections cut with the server are gone from the pool: the very next query works.
  const rows = await db.query('SELECT maildrop FROM users WHERE address = ?', ['joe@example.com']);
  assert.deepEqual(rows, [{ maildrop: '/m/joe' }]);
  await relay.stop();
});
