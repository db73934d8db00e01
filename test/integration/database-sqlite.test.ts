import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { isHostError } from '../../src/errors.js';
import { openDatabase } from '../../src/pools/databases.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const dir = mkdtempSync(join(tmpdir(), 'infra-sqlite-'));
const workers = createWorkerPool({ minThreads: 1, maxThreads: 3, idleTimeoutMs: 1000 });
const log = pino({ level: 'silent' });
after(async () => {
  await workers.close();
  rmSync(dir, { recursive: true, force: true });
});

const init = join(dir, 'init.sql');
writeFileSync(
  init,
  `CREATE TABLE users (address TEXT PRIMARY KEY, maildrop TEXT NOT NULL, password TEXT, n INTEGER, data BLOB);
   INSERT INTO users VALUES ('joe@example.com', '/m/joe', '{PLAIN}x', 1, NULL);`,
);

test('a missing file is created in a new directory and init runs once', async () => {
  const path = join(dir, 'sub', 'dir', 'users.db');
  const db = await openDatabase('main', { driver: 'sqlite', path, init }, workers, log);
  assert.ok(existsSync(path));
  assert.equal(db.driver, 'sqlite');
  const rows = await db.query('SELECT maildrop, address FROM users WHERE address = ?', ['joe@example.com']);
  assert.deepEqual(rows, [{ maildrop: '/m/joe', address: 'joe@example.com' }]);
  assert.deepEqual(Object.keys(rows[0]!), ['maildrop', 'address'], 'column order kept');

  // Opening again (a restart) must not re-run init: the extra row survives.
  await db.execute('INSERT INTO users (address, maildrop) VALUES (?, ?)', ['ann@example.com', '/m/ann']);
  const again = await openDatabase('main', { driver: 'sqlite', path, init }, workers, log);
  const [{ c }] = (await again.query<{ c: number }>('SELECT count(*) AS c FROM users')) as [{ c: number }];
  assert.equal(c, 2);
  assert.equal((await again.query<{ journal_mode: string }>('PRAGMA journal_mode'))[0]?.journal_mode, 'wal');
});

test('bound parameters: quotes, booleans, null, blobs; execute returns affectedRows', async () => {
  const db = await openDatabase('p', { driver: 'sqlite', path: join(dir, 'p.db'), init }, workers, log);
  const evil = `x' OR '1'='1`;
  assert.deepEqual(await db.query('SELECT * FROM users WHERE address = ?', [evil]), []);
  const res = await db.execute('INSERT INTO users (address, maildrop, n, data) VALUES (?, ?, ?, ?)', [
    evil,
    '/m/e',
    true,
    Buffer.from([0, 1, 2]),
  ]);
  assert.deepEqual(res, { affectedRows: 1 });
  const [row] = await db.query('SELECT n, data, password FROM users WHERE address = ?', [evil]);
  assert.ok(row);
  assert.equal(row.n, 1);
  assert.ok(Buffer.isBuffer(row.data));
  assert.deepEqual([...row.data], [0, 1, 2]);
  assert.equal(row.password, null);
  assert.deepEqual(await db.execute('UPDATE users SET n = n + 1'), { affectedRows: 2 });
});

test('concurrent queries and writes from several worker threads', async () => {
  const db = await openDatabase('c', { driver: 'sqlite', path: join(dir, 'c.db'), init }, workers, log);
  await db.execute('CREATE TABLE hits (k INTEGER)');
  const writes = Array.from({ length: 200 }, (_, i) => db.execute('INSERT INTO hits VALUES (?)', [i]));
  const reads = Array.from({ length: 200 }, () =>
    db.query('SELECT maildrop FROM users WHERE address = ?', ['joe@example.com']),
  );
  const [w, r] = await Promise.all([Promise.all(writes), Promise.all(reads)]);
  assert.ok(w.every((x) => x.affectedRows === 1));
  assert.ok(r.every((rows) => rows[0]?.maildrop === '/m/joe'));
  const [{ n, s }] = (await db.query('SELECT count(*) AS n, sum(k) AS s FROM hits')) as [
    { n: number; s: number },
  ];
  assert.equal(n, 200);
  assert.equal(s, (199 * 200) / 2);
  const st = db.stats();
  assert.equal(st.id, 'c');
  assert.equal(st.queries, 402);
  assert.equal(st.errors, 0);
  assert.equal(st.busy, 0);
});

test('a bad query is DB_QUERY, counted, and the next query works', async () => {
  const db = await openDatabase('e', { driver: 'sqlite', path: join(dir, 'e.db'), init }, workers, log);
  await assert.rejects(db.query('SELECT nope FROM users'), (e) => isHostError(e, 'DB_QUERY'));
  await assert.rejects(db.query('SELEC 1'), (e) => isHostError(e, 'DB_QUERY'));
  assert.equal(db.stats().errors, 2);
  assert.equal((await db.query('SELECT 1 AS one'))[0]?.one, 1);
});

test('a broken init script leaves no half-made database behind', async () => {
  const bad = join(dir, 'bad.sql');
  writeFileSync(bad, 'CREATE TABLE t (x); THIS IS NOT SQL;');
  const path = join(dir, 'broken.db');
  await assert.rejects(openDatabase('b', { driver: 'sqlite', path, init: bad }, workers, log), (e) =>
    isHostError(e, 'DB_QUERY'),
  );
  assert.equal(existsSync(path), false);
});
