// The SQL Authenticator on a real SQLite file (the default schema) through the host's own pools:
// passwords verified in worker threads, injection attempts, maildir_root, APOP, login log.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { pino } from 'pino';
import { createSqlAuthenticator, type SqlAuthConfig } from '../../modules/pop3/auth/sql.js';
import type { Credentials, LoginContext } from '../../modules/pop3/seams.js';
import { hashPassword } from '../../src/auth/passwords.js';
import { type OpenDatabase, openDatabase } from '../../src/pools/databases.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const QUERY = "SELECT maildrop, password FROM mailbox WHERE address = '%u' AND active = 1";
const LOG_QUERY =
  "UPDATE mailbox SET last_login = CAST(strftime('%%s','now') AS INTEGER), last_login_ip = '%r' WHERE address = '%u'";

/** personality/schema.sql, found upward from this file (the output dir may be dist/ or .build/NAME/). */
function schemaPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, 'personality', 'schema.sql');
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) throw new Error('personality/schema.sql not found');
    dir = up;
  }
}

const log = pino({ level: 'silent' });
const workers = createWorkerPool({ minThreads: 1, maxThreads: 2, idleTimeoutMs: 5000 });
let tmp: string;
let root: string;
let db: OpenDatabase;
let cfg: SqlAuthConfig;
const auth = createSqlAuthenticator({ config: () => cfg, database: () => db, workers });

function ctx(): LoginContext & { session: { delays: number } } {
  return { remoteAddress: '192.0.2.7', session: { delays: 0 }, log };
}
const plain = (user: string, password: string): Credentials => ({ kind: 'plain', user, password });

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'auth-sqlite-'));
  root = join(tmp, 'mail');
  cfg = { query: QUERY, loginLogQuery: LOG_QUERY, maildirRoot: root };
  db = await openDatabase(
    'default',
    { driver: 'sqlite', path: join(tmp, 'db.sqlite'), init: schemaPath() },
    workers,
    log,
  );
  const rows: [string, string, string, number][] = [
    ['joe@example.com', await hashPassword('joe-pw'), 'example.com/joe/Maildir', 1],
    ['bcrypt@example.com', await hashPassword('bf-pw', 'BLF-CRYPT'), 'example.com/bcrypt', 1],
    ['argon@example.com', await hashPassword('ar-pw', 'ARGON2ID'), 'example.com/argon', 1],
    ['plain@example.com', '{PLAIN}tanstaaf', 'example.com/plain', 1],
    ['off@example.com', await hashPassword('off-pw'), 'example.com/off', 0],
    ['escape@example.com', '{PLAIN}esc-pw', '../../etc', 1],
    ['abs-out@example.com', '{PLAIN}abs-pw', '/etc', 1],
    ['nulls@example.com', '{PLAIN}', 'example.com/nulls', 1],
  ];
  for (const r of rows) {
    await db.execute('INSERT INTO mailbox (address, password, maildrop, active) VALUES (?, ?, ?, ?)', r);
  }
  await db.execute('INSERT INTO mailbox (address, password, maildrop) VALUES (?, ?, ?)', [
    'abs-in@example.com',
    '{PLAIN}absin-pw',
    join(root, 'abs', 'in'),
  ]);
});

after(async () => {
  await db.close();
  await (workers as unknown as { close(): Promise<void> }).close();
  rmSync(tmp, { recursive: true, force: true });
});

test('right password: the maildrop under maildir_root, one worker hand-off counted', async () => {
  const c = ctx();
  const r = await auth.login(plain('joe@example.com', 'joe-pw'), c);
  assert.deepEqual(r, { ok: true, user: 'joe@example.com', maildrop: join(root, 'example.com/joe/Maildir') });
  assert.equal(c.session.delays, 1);
});

test('bcrypt and argon2id rows verify in the worker too', async () => {
  assert.equal((await auth.login(plain('bcrypt@example.com', 'bf-pw'), ctx())).ok, true);
  assert.equal((await auth.login(plain('argon@example.com', 'ar-pw'), ctx())).ok, true);
  assert.deepEqual(await auth.login(plain('argon@example.com', 'bf-pw'), ctx()), {
    ok: false,
    reason: 'invalid',
  });
});

test('wrong password, unknown user, inactive user: the same "invalid"', async () => {
  const invalid = { ok: false, reason: 'invalid' };
  assert.deepEqual(await auth.login(plain('joe@example.com', 'nope'), ctx()), invalid);
  assert.deepEqual(await auth.login(plain('JOE@example.com', 'joe-pw'), ctx()), invalid);
  assert.deepEqual(await auth.login(plain('nobody@example.com', 'joe-pw'), ctx()), invalid);
  assert.deepEqual(await auth.login(plain('off@example.com', 'off-pw'), ctx()), invalid);
  // an empty stored password never matches, not even an empty one
  assert.deepEqual(await auth.login(plain('nulls@example.com', ''), ctx()), invalid);
});

test('an unknown user costs a hash like a wrong password does (once rows carry passwords)', async () => {
  const c = ctx();
  await auth.login(plain('nobody@example.com', 'x'), c);
  assert.equal(c.session.delays, 1);
});

test('injection attempts stay values: no login, table intact', async () => {
  const attempts = [
    `x' OR '1'='1`,
    `x" OR "1"="1`,
    `joe@example.com' --`,
    `'; DROP TABLE mailbox; --`,
    '%',
    '%u',
    'joe@example.com%',
  ];
  for (const user of attempts) {
    const r = await auth.login(plain(user, `' OR '1'='1`), ctx());
    assert.deepEqual(r, { ok: false, reason: 'invalid' }, user);
  }
  const n = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM mailbox');
  assert.equal(n[0].n, 9);
});

test('a maildrop outside maildir_root is refused as permanent; an absolute one inside is fine', async () => {
  const esc = await auth.login(plain('escape@example.com', 'esc-pw'), ctx());
  assert.equal(esc.ok, false);
  assert.equal(!esc.ok && esc.reason, 'permanent');
  const abs = await auth.login(plain('abs-out@example.com', 'abs-pw'), ctx());
  assert.equal(!abs.ok && abs.reason, 'permanent');
  const inside = await auth.login(plain('abs-in@example.com', 'absin-pw'), ctx());
  assert.deepEqual(inside, { ok: true, user: 'abs-in@example.com', maildrop: join(root, 'abs', 'in') });
});

test('APOP: md5(banner + password) against a {PLAIN} row; hashed rows cannot do APOP', async () => {
  assert.equal(auth.apopCapable, true);
  const banner = '<1896.697170952@dbc.mtview.ca.us>';
  const digest = createHash('md5').update(`${banner}tanstaaf`).digest('hex');
  const c = ctx();
  const ok = await auth.login({ kind: 'apop', user: 'plain@example.com', banner, digest }, c);
  assert.deepEqual(ok, { ok: true, user: 'plain@example.com', maildrop: join(root, 'example.com/plain') });
  assert.equal(c.session.delays, 0, 'APOP needs no worker: one MD5');
  const upper = await auth.login(
    { kind: 'apop', user: 'plain@example.com', banner, digest: digest.toUpperCase() },
    ctx(),
  );
  assert.equal(upper.ok, true);
  const wrong = await auth.login(
    { kind: 'apop', user: 'plain@example.com', banner: '<other@host>', digest },
    ctx(),
  );
  assert.deepEqual(wrong, { ok: false, reason: 'invalid' });
  const hashed = createHash('md5').update(`${banner}joe-pw`).digest('hex');
  const r = await auth.login({ kind: 'apop', user: 'joe@example.com', banner, digest: hashed }, ctx());
  assert.deepEqual(r, { ok: false, reason: 'invalid' });
});

test('a changed password works at once, the old one no longer (nothing cached)', async () => {
  await db.execute('UPDATE mailbox SET password = ? WHERE address = ?', [
    await hashPassword('new-pw'),
    'bcrypt@example.com',
  ]);
  assert.equal((await auth.login(plain('bcrypt@example.com', 'bf-pw'), ctx())).ok, false);
  assert.equal((await auth.login(plain('bcrypt@example.com', 'new-pw'), ctx())).ok, true);
});

test('recordLogin runs the login-log query: last_login and last_login_ip set', async () => {
  const before = Math.floor(Date.now() / 1000) - 1;
  await auth.recordLogin?.('joe@example.com', ctx());
  const rows = await db.query<{ last_login: number; last_login_ip: string }>(
    'SELECT last_login, last_login_ip FROM mailbox WHERE address = ?',
    ['joe@example.com'],
  );
  assert.equal(rows[0].last_login_ip, '192.0.2.7');
  assert.ok(rows[0].last_login >= before, String(rows[0].last_login));
});

test('recordLogin never throws: a broken login-log query is logged', async () => {
  const warnings: unknown[] = [];
  const c = { ...ctx(), log: { warn: (o: unknown) => warnings.push(o) } as unknown as LoginContext['log'] };
  const saved = cfg;
  cfg = { ...cfg, loginLogQuery: "UPDATE no_such_table SET x = 1 WHERE a = '%u'" };
  try {
    await auth.recordLogin?.('joe@example.com', c);
  } finally {
    cfg = saved;
  }
  assert.equal(warnings.length, 1);
  assert.match(JSON.stringify(warnings[0]), /no_such_table/);
});

test('a query the database refuses is temporary, with the error as detail', async () => {
  const saved = cfg;
  cfg = { ...cfg, query: "SELECT maildrop, password FROM mailbox WHERE adress = '%u'" };
  try {
    const r = await auth.login(plain('joe@example.com', 'joe-pw'), ctx());
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'temporary');
    assert.match(!r.ok && r.reason === 'temporary' ? r.detail : '', /adress/);
  } finally {
    cfg = saved;
  }
});

test('a query that neither uses %p nor returns a password logs nobody in (fail closed)', async () => {
  const saved = cfg;
  cfg = { ...cfg, query: "SELECT maildrop FROM mailbox WHERE address = '%u'" };
  try {
    const r = await auth.login(plain('joe@example.com', 'anything'), ctx());
    assert.equal(!r.ok && r.reason, 'permanent');
    assert.equal(auth.apopCapable, true);
  } finally {
    cfg = saved;
  }
});

test('a query with %p: APOP is not offered', () => {
  const saved = cfg;
  cfg = {
    ...cfg,
    query: "SELECT maildrop FROM mailbox WHERE address = '%u' AND password = '{PLAIN}' || '%p'",
  };
  try {
    assert.equal(auth.apopCapable, false);
  } finally {
    cfg = saved;
  }
});

test('r2d2 style (the query decides, no password column) on SQLite', async () => {
  const saved = cfg;
  cfg = { ...cfg, query: 'SELECT maildrop FROM mailbox WHERE address = "%u" AND password = \'{PLAIN}%p\'' };
  try {
    const c = ctx();
    const ok = await auth.login(plain('plain@example.com', 'tanstaaf'), c);
    assert.equal(ok.ok, true);
    assert.equal(c.session.delays, 0);
    assert.deepEqual(await auth.login(plain('plain@example.com', 'x'), ctx()), {
      ok: false,
      reason: 'invalid',
    });
    const apop = await auth.login(
      { kind: 'apop', user: 'plain@example.com', banner: '<a@b>', digest: 'x' },
      ctx(),
    );
    assert.deepEqual(apop, { ok: false, reason: 'invalid' });
  } finally {
    cfg = saved;
  }
});

test('property: no user/password text logs in except the exact pair, and the table is untouched', async () => {
  const saved = cfg;
  cfg = {
    ...cfg,
    query: 'SELECT maildrop FROM mailbox WHERE address = "%u" AND password = \'{PLAIN}%p\' AND active = 1',
  };
  // Quote, comment and percent characters are drawn far more often than in uniform strings.
  const hostile = fc.string({
    unit: fc.oneof(
      fc.constantFrom("'", '"', '%', '-', ';', '#', '/', '*', '\\', '?', ' ', 'OR', '1', '='),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
    ),
    maxLength: 24,
  });
  try {
    await fc.assert(
      fc.asyncProperty(hostile, hostile, async (user, password) => {
        const r = await auth.login(plain(user, password), ctx());
        const exact = user === 'plain@example.com' && password === 'tanstaaf';
        assert.equal(r.ok, exact);
      }),
      { numRuns: 150 },
    );
    const n = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM mailbox');
    assert.equal(n[0].n, 9);
  } finally {
    cfg = saved;
  }
});
