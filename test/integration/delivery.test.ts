// `host deliver` as Postfix or procmail run it (a real process, MariaDB over a real connection, a
// real Maildir), a delivery killed half-way, and name uniqueness across processes and threads.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import mysql from 'mysql2/promise';
import { sizeFromName } from '../../src/delivery/name.js';
import { helperPaths, makePersonality } from '../helpers/host.js';

const NAME = `delivery_test_${randomBytes(4).toString('hex')}`;
let admin: mysql.Connection;
let dir: string; // lmtp personality on MariaDB
let pop3Dir: string; // pop3-only personality (no [lmtp] section)
let downDir: string; // database on a closed port
const dirs: string[] = [];

const DB = (port = 3306) => `[database.default]
driver = mysql
host = 127.0.0.1
port = ${port}
user = root
database = ${NAME}
connect_timeout = 2s
`;

function maildirs(root: string, users: string[]): void {
  for (const u of users)
    for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(root, 'mail', u, sub), { recursive: true });
}

before(async () => {
  admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
  await admin.query(`CREATE DATABASE \`${NAME}\``);
  await admin.query(
    `CREATE TABLE \`${NAME}\`.mailbox (address VARCHAR(255) PRIMARY KEY, password VARCHAR(255) NOT NULL DEFAULT '',
     maildrop VARCHAR(255) NOT NULL, active TINYINT NOT NULL DEFAULT 1)`,
  );
  await admin.query(
    `INSERT INTO \`${NAME}\`.mailbox (address, maildrop, active) VALUES
     ('joe@example.com', 'joe', 1), ('slow@example.com', 'slow', 1), ('off@example.com', 'off', 0),
     ('out@example.com', '../outside', 1)`,
  );
  const base = 'executes_as_root = true\nlog_format = json\nlog_level = warn\n';
  dir = makePersonality({
    c11n: `${base}${DB()}[lmtp]\nmaildir_root = mail\ndelivery_query_format_string = "SELECT maildrop FROM mailbox WHERE address = '%l@%d' AND active = 1"\n`,
    modules: [helperPaths.lmtpModule],
  });
  pop3Dir = makePersonality({
    c11n: `${base}${DB()}[pop3]\ntls_port = 0\nmaildir_root = mail\n`,
    modules: [helperPaths.pop3Module],
  });
  downDir = makePersonality({
    c11n: `${base}${DB(1)}[lmtp]\nmaildir_root = mail\n`,
    modules: [helperPaths.lmtpModule],
  });
  dirs.push(dir, pop3Dir, downDir);
  maildirs(dir, ['joe', 'slow']);
  maildirs(pop3Dir, ['joe']);
  maildirs(downDir, ['joe']);
});

after(async () => {
  await admin?.query(`DROP DATABASE IF EXISTS \`${NAME}\``);
  await admin?.end();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function deliver(args: string[], input: string | Buffer): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [helperPaths.mainJs, 'deliver', ...args], {
    input,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stderr: r.stderr };
}

const newFiles = (root: string, user: string) => readdirSync(join(root, 'mail', user, 'new')).sort();

test('host deliver: 0, the message stored with LF, its CRLF size in the name, a From_ line removed', () => {
  const msg = 'From sender@example.org Mon Nov 23 10:00:00 2026\r\nSubject: cmd\r\n\r\nline one\r\nline two';
  const r = deliver(['--personality', dir, 'joe@example.com'], msg);
  assert.equal(r.status, 0, r.stderr);
  const [f] = newFiles(dir, 'joe');
  assert.ok(f.length <= 70);
  const stored = readFileSync(join(dir, 'mail', 'joe', 'new', f), 'utf8');
  assert.equal(stored, 'Subject: cmd\n\nline one\nline two\n');
  assert.equal(sizeFromName(f), 'Subject: cmd\r\n\r\nline one\r\nline two\r\n'.length);
  assert.deepEqual(readdirSync(join(dir, 'mail', 'joe', 'tmp')), []);
});

test('host deliver: 67 for an unknown or inactive user, one line on stderr', () => {
  for (const who of ['nobody@example.com', 'off@example.com']) {
    const r = deliver(['--personality', dir, who], 'Subject: x\n\nx\n');
    assert.equal(r.status, 67, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /no such user/);
  }
});

test('host deliver: 75 when the database is down or the maildrop is outside maildir_root', () => {
  const down = deliver(['--personality', downDir, 'joe@example.com'], 'Subject: x\n\nx\n');
  assert.equal(down.status, 75, down.stderr);
  assert.match(down.stderr, /try again later/);
  assert.deepEqual(newFiles(downDir, 'joe'), []);
  const out = deliver(['--personality', dir, 'out@example.com'], 'Subject: x\n\nx\n');
  assert.equal(out.status, 75, out.stderr);
  assert.match(out.stderr, /outside maildir_root/);
});

test('host deliver: 64 on usage errors', () => {
  assert.equal(deliver([], '').status, 64);
  assert.equal(deliver(['--personality', dir], '').status, 64);
  assert.equal(deliver(['--bogus', 'a@b'], '').status, 64);
});

test('host deliver without an [lmtp] section uses the pop3 module database and maildir_root', () => {
  const r = deliver(['--personality', pop3Dir, 'joe@example.com'], 'Subject: via pop3 settings\n\nhi\n');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(newFiles(pop3Dir, 'joe').length, 1);
});

test('a delivery killed half-way leaves its file in tmp/ and nothing in new/', async () => {
  const child = spawn(
    process.execPath,
    [helperPaths.mainJs, 'deliver', '--personality', dir, 'slow@example.com'],
    {
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.on('error', () => {}); // EPIPE if the child died: reported by the assertions below
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const tmp = join(dir, 'mail', 'slow', 'tmp');
  try {
    child.stdin.write('Subject: slow\n\n');
    const line = `${'s'.repeat(99)}\n`;
    const deadline = Date.now() + 10_000;
    // Feed until a chunk has been written to tmp/ (the message is still incomplete).
    while (readdirSync(tmp).length === 0) {
      assert.ok(Date.now() < deadline, `no tmp file appeared; ${stderr}`);
      assert.equal(exitCode, undefined, `host deliver exited early: ${stderr}`);
      child.stdin.write(line.repeat(3000));
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
  } finally {
    child.kill('SIGKILL');
  }
  assert.deepEqual(newFiles(dir, 'slow'), []);
  assert.equal(readdirSync(tmp).length, 1, 'the partial file stays in tmp/ (swept after 36 hours)');
});

test('names never collide: 3 processes x 4 worker threads x 150 concurrent deliveries into one Maildir', async () => {
  const root = join(tmpdir(), `delivery-unique-${randomBytes(4).toString('hex')}`);
  dirs.push(root);
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(root, sub), { recursive: true });
  const outDir = join(helperPaths.mainJs, '..', '..', '..');
  const deliverUrl = pathToFileURL(join(outDir, 'src/delivery/deliver.js')).href;
  const workersUrl = pathToFileURL(join(outDir, 'src/pools/workers.js')).href;
  const script = `
    const { MaildirDelivery } = await import(${JSON.stringify(deliverUrl)});
    const { createWorkerPool } = await import(${JSON.stringify(workersUrl)});
    const workers = createWorkerPool({ minThreads: 4, maxThreads: 4, idleTimeoutMs: 1000 });
    const tag = process.argv[1];
    await Promise.all(Array.from({ length: 150 }, async (_, i) => {
      const d = new MaildirDelivery([{ address: 'u', maildir: ${JSON.stringify(root)} }], { workers, session: { delays: 0 } });
      await d.line(Buffer.from('X-Tag: ' + tag + '-' + i));
      await d.line(Buffer.from(''));
      await d.line(Buffer.from('x'.repeat(i)));
      const [o] = await d.finish();
      if (!o.ok) throw new Error(JSON.stringify(o));
    }));
    await workers.close();
  `;
  const runs = ['a', 'b', 'c'].map(
    (tag) =>
      new Promise<number | null>((resolve) => {
        const p = spawn(process.execPath, ['--input-type=module', '-e', script, tag], {
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
        p.on('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
      }),
  );
  assert.deepEqual(await Promise.all(runs), [0, 0, 0]);
  const names = readdirSync(join(root, 'new'));
  assert.equal(names.length, 450);
  const tags = new Set<string>();
  for (const n of names) {
    assert.ok(n.length <= 70, n);
    const text = readFileSync(join(root, 'new', n), 'latin1');
    tags.add(/X-Tag: (\S+)/.exec(text)![1]);
    assert.equal(sizeFromName(n), Buffer.byteLength(text.replace(/\n/g, '\r\n'), 'latin1'));
  }
  assert.equal(tags.size, 450, 'every delivery has its own file');
});
