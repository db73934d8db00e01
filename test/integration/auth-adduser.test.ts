// `host adduser` as a real command on a temporary personality (SQLite from personality/schema.sql):
// the row it writes logs in through the SQL Authenticator, the Maildir exists, no password printed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createSqlAuthenticator } from '../../modules/pop3/auth/sql.js';
import { type OpenDatabase, openDatabase } from '../../src/pools/databases.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const outDir = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(outDir, 'src/cli/main.js');

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

// A stand-in pop3 module with just the options adduser reads, so this test does not depend on
// the real module's other options.
const FAKE_POP3 = `import { defineModule } from ${JSON.stringify(new URL('../../src/api.js', import.meta.url).href)};
export default defineModule(import.meta, {
  name: 'pop3', description: 'stand-in', version: '0.0.0', hostApi: '1.0', authors: [],
  options: {
    database: { type: 'string', default: 'default', description: 'db' },
    maildir_root: { type: 'path', required: true, description: 'root' },
  },
  construct: () => ({}),
});
`;

let dir: string;
const run = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, 'adduser', '--personality', dir, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
  });

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'auth-adduser-'));
  mkdirSync(join(dir, 'modules'));
  writeFileSync(join(dir, 'modules', 'pop3.js'), FAKE_POP3);
  writeFileSync(join(dir, 'schema.sql'), readFileSync(schemaPath()));
  writeFileSync(
    join(dir, 'c11n'),
    'executes_as_root = true\nlog_format = json\n[database.default]\ndriver = sqlite\npath = data/users.sqlite\n' +
      'init = schema.sql\n[pop3]\nmaildir_root = mail\n',
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('adds a user: hashed row, Maildir created, password never printed; the row logs in', async () => {
  const r = run('joe@example.com', 'Sekr3t-pw');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /added joe@example.com in database default: password \{SHA512-CRYPT\}/);
  assert.ok(!r.stdout.includes('Sekr3t-pw') && !r.stderr.includes('Sekr3t-pw'));
  const maildir = join(dir, 'mail', 'joe@example.com', 'Maildir');
  for (const sub of ['cur', 'new', 'tmp']) assert.ok(statSync(join(maildir, sub)).isDirectory(), sub);

  const log = pino({ level: 'silent' });
  const workers = createWorkerPool({ minThreads: 1, maxThreads: 1, idleTimeoutMs: 1000 });
  const db: OpenDatabase = await openDatabase(
    'default',
    { driver: 'sqlite', path: join(dir, 'data', 'users.sqlite') },
    workers,
    log,
  );
  try {
    const rows = await db.query<{ password: string; maildrop: string; active: number }>(
      'SELECT password, maildrop, active FROM mailbox WHERE address = ?',
      ['joe@example.com'],
    );
    assert.match(rows[0].password, /^\{SHA512-CRYPT\}\$6\$/);
    assert.equal(rows[0].maildrop, 'joe@example.com/Maildir');
    assert.equal(rows[0].active, 1);

    const cfg = {
      query: "SELECT maildrop, password FROM mailbox WHERE address = '%u' AND active = 1",
      maildirRoot: join(dir, 'mail'),
    };
    const auth = createSqlAuthenticator({ config: () => cfg, database: () => db, workers });
    const ctx = { remoteAddress: '127.0.0.1', session: { delays: 0 }, log };
    const ok = await auth.login({ kind: 'plain', user: 'joe@example.com', password: 'Sekr3t-pw' }, ctx);
    assert.deepEqual(ok, { ok: true, user: 'joe@example.com', maildrop: maildir });

    // a second run changes the password, keeps the maildrop
    const again = run('joe@example.com', 'new-pw');
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /updated joe@example.com/);
    assert.match(again.stdout, /exists/);
    const old = await auth.login({ kind: 'plain', user: 'joe@example.com', password: 'Sekr3t-pw' }, ctx);
    assert.deepEqual(old, { ok: false, reason: 'invalid' });
    const now = await auth.login({ kind: 'plain', user: 'joe@example.com', password: 'new-pw' }, ctx);
    assert.equal(now.ok, true);
  } finally {
    await db.close();
    await workers.close();
  }
});

test('an explicit MAILDIR; one outside maildir_root is refused; bad usage is 64', () => {
  const r = run('ann@example.org', 'pw1', 'example.org/ann');
  assert.equal(r.status, 0, r.stderr);
  assert.ok(statSync(join(dir, 'mail', 'example.org', 'ann', 'new')).isDirectory());

  const out = run('eve@example.org', 'pw2', '../../etc/eve');
  assert.equal(out.status, 65);
  assert.match(out.stderr, /outside maildir_root/);
  assert.ok(!existsSync(join(dir, '..', 'etc', 'eve')));

  assert.equal(run('only-an-address').status, 64);
  assert.equal(run('../x', 'pw').status, 64);
});
