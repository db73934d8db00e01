// End to end, with plaintext refused without TLS: STLS then USER/PASS, AUTH PLAIN, APOP, a crypt
// hash from openssl, mpop over STLS, the per-IP limit and the SIGUSR1 report.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { helperPaths, type RunningHost, startHost } from '../helpers/host.js';
import { connect, type Pop3Client } from '../helpers/pop3.js';
import { selfSignedCert } from '../helpers/tls.js';

const MSGS: Record<string, Buffer> = {
  '1700000101.A1P1.test': Buffer.from('Subject: one\n\n.dot\nbody\n'),
  '1700000102.A2P1.test': Buffer.from(`Subject: two\n\n${'x'.repeat(3000)}\nend`),
};
const NAMES = Object.keys(MSGS).sort();

let dir: string;
let host: RunningHost;
let port: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pop3-auth-'));
  for (const u of ['plain', 'sasl', 'apop', 'crypt', 'mpop', 'ip']) {
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, 'mail', u, sub), { recursive: true });
    for (const n of NAMES) writeFileSync(join(dir, 'mail', u, 'new', n), MSGS[n]);
  }
  selfSignedCert(join(dir, 'key.pem'), join(dir, 'cert.pem'));
  const crypt = execFileSync('openssl', ['passwd', '-6', '-salt', 'saltsalt', 'pw-crypt']).toString().trim();
  const rows = [
    ['plain', '{PLAIN}pw-plain'],
    ['sasl', '{PLAIN}pw-sasl'],
    ['apop', '{PLAIN}pw-apop'],
    ['crypt', `{SHA512-CRYPT}${crypt}`],
    ['mpop', '{PLAIN}pw-mpop'],
    ['ip', '{PLAIN}pw-ip'],
  ].map(([u, p]) => `INSERT INTO mailbox (address, password, maildrop) VALUES ('${u}', '${p}', '${u}');`);
  host = await startHost({
    dir,
    modules: [helperPaths.pop3Module],
    files: {
      'schema.sql': `CREATE TABLE mailbox (address TEXT PRIMARY KEY, password TEXT NOT NULL, maildrop TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);\n${rows.join('\n')}\n`,
    },
    c11n: [
      'executes_as_root = true',
      'drain_time = 1s',
      '[database.default]',
      'driver = sqlite',
      'path = users.sqlite',
      'init = schema.sql',
      '[pop3]',
      'address = 127.0.0.1',
      'port = 0',
      'tls_port = 0',
      'maildir_root = mail',
      'plaintext_without_tls = never',
      'apop = true',
      'auth_failure_delay = 50ms',
      'max_sessions_per_ip = 4',
      `maildrop_query_format_string = "SELECT maildrop, password FROM mailbox WHERE address = '%u' AND active = 1"`,
      '',
    ].join('\n'),
  });
  port = host.port('pop3');
});

after(async () => {
  if (host) await host.stop();
});

async function stls(): Promise<Pop3Client> {
  const c = await connect(port);
  assert.match(await c.command('STLS'), /^\+OK/);
  await c.startTls();
  return c;
}

test('plaintext refused before STLS, accepted after', async () => {
  const c = await connect(port);
  const capa = await c.multiline('CAPA');
  assert.ok(capa.lines.includes('STLS'));
  assert.ok(!capa.lines.includes('USER') && !capa.lines.includes('SASL PLAIN'));
  assert.match(await c.command('USER plain'), /^-ERR \[AUTH\]/);
  assert.match(await c.command(`AUTH PLAIN ${Buffer.from('\0plain\0pw-plain').toString('base64')}`), /^-ERR/);
  assert.match(await c.command('STLS'), /^\+OK/);
  await c.startTls();
  const capa2 = await c.multiline('CAPA');
  assert.ok(
    capa2.lines.includes('USER') && capa2.lines.includes('SASL PLAIN') && !capa2.lines.includes('STLS'),
  );
  assert.match(await c.command('USER plain'), /^\+OK/);
  assert.match(await c.command('PASS pw-plain'), /^\+OK/);
  assert.match(await c.command('STAT'), /^\+OK 2 /);
  await c.command('QUIT');
  const rec = await host.waitForLog((r) => r.msg === 'disconnected: peer quit,' && r.user === 'plain');
  // CAPA, USER (refused), AUTH (refused), STLS, CAPA, USER, PASS, STAT, QUIT.
  assert.equal(rec.sequence, 'cuA^cupsq');
});

test('AUTH PLAIN over TLS, with and without initial response', async () => {
  const c = await stls();
  assert.equal(await c.command('AUTH PLAIN'), '+ ');
  assert.match(await c.command(Buffer.from('\0sasl\0pw-sasl').toString('base64')), /^\+OK/);
  await c.command('QUIT');
  const d = await stls();
  assert.match(
    await d.command(`AUTH PLAIN ${Buffer.from('sasl\0sasl\0pw-sasl').toString('base64')}`),
    /^\+OK/,
  );
  await d.command('QUIT');
});

test('APOP without TLS (no plaintext password on the wire)', async () => {
  const c = await connect(port);
  const banner = /(<[^>]+>)/.exec(c.greeting)?.[1];
  assert.ok(banner, c.greeting);
  const digest = createHash('md5').update(`${banner}pw-apop`).digest('hex');
  assert.match(await c.command(`APOP apop ${digest}`), /^\+OK/);
  assert.deepEqual(
    (await c.multiline('UIDL')).lines,
    NAMES.map((n, i) => `${i + 1} ${n}`),
  );
  await c.command('QUIT');
});

test('SHA512-CRYPT password from openssl', async () => {
  const c = await stls();
  await c.command('USER crypt');
  assert.match(await c.command('PASS nope'), /^-ERR \[AUTH\]/);
  await c.command('USER crypt');
  assert.match(await c.command('PASS pw-crypt'), /^\+OK/);
  await c.command('QUIT');
});

test('real client: mpop over STLS fetches byte-exact into a Maildir', {
  skip: !existsSync('/usr/bin/mpop'),
}, () => {
  const out = mkdtempSync(join(tmpdir(), 'mpop-out-'));
  try {
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(out, sub));
    const r = spawnSync(
      'mpop',
      [
        '--host=127.0.0.1',
        `--port=${port}`,
        '--user=mpop',
        '--passwordeval=echo pw-mpop',
        '--auth=user',
        '--tls=on',
        '--tls-starttls=on',
        '--tls-certcheck=off',
        '--received-header=off',
        '--keep=on',
        `--delivery=maildir,${out}`,
        `--uidls-file=${join(out, 'uidls')}`,
      ],
      { timeout: 20_000, env: { ...process.env, HOME: out } },
    );
    assert.equal(r.status, 0, r.stderr.toString() + r.stdout.toString());
    const got = readdirSync(join(out, 'new'))
      .map((f) => readFileSync(join(out, 'new', f)).toString('latin1'))
      .sort();
    // mpop stores with LF line ends; a final newline is added when the message lacked one.
    const want = NAMES.map((n) => {
      const s = MSGS[n].toString('latin1');
      return s.endsWith('\n') ? s : `${s}\n`;
    }).sort();
    assert.deepEqual(got, want);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('per-IP limit refuses the extra connection with a reply', async () => {
  const open: Pop3Client[] = [];
  try {
    for (let i = 0; i < 4; i++) open.push(await connect(port));
    const extra = await connect(port).catch((e: Error) => e);
    if (extra instanceof Error) assert.match(extra.message, /closed|reset/i);
    else {
      assert.match(extra.greeting, /^-ERR/);
      await extra.waitClosed();
    }
  } finally {
    for (const c of open) c.close();
  }
});

test('SIGUSR1 report carries the module figures', async () => {
  host.signal('SIGUSR1');
  const r = await host.waitForLog((l) => l.module === 'pop3' && l.msg === 'report');
  assert.equal(typeof r.sessions_active, 'number');
  assert.ok((r.logins_ok as number) >= 4, JSON.stringify(r));
  assert.ok((r.logins_failed as number) >= 1);
});

test('SIGHUP applies reloadable options to new sessions', async () => {
  const path = join(host.dir, 'c11n');
  const text = readFileSync(path, 'utf8')
    .replace('apop = true', 'apop = false')
    .replace('plaintext_without_tls = never', 'plaintext_without_tls = always');
  writeFileSync(path, text);
  host.signal('SIGHUP');
  await host.waitForLog((r) => r.msg === 'reload done');
  const c = await connect(port);
  assert.ok(!c.greeting.includes('<'), 'no APOP banner after apop = false');
  assert.ok((await c.multiline('CAPA')).lines.includes('USER'), 'plaintext now allowed');
  assert.match(await c.command('USER plain'), /^\+OK/);
  assert.match(await c.command('PASS pw-plain'), /^\+OK/);
  await c.command('QUIT');
});

test('dele_action = move (reloaded): QUIT moves deleted messages to .Trash', async () => {
  const path = join(host.dir, 'c11n');
  writeFileSync(path, `${readFileSync(path, 'utf8')}dele_action = move\n`);
  host.signal('SIGHUP');
  await host.waitForLog((r) => r.msg === 'reloaded' && String(r.options).includes('dele_action'));
  const c = await connect(port);
  await c.command('USER ip');
  assert.match(await c.command('PASS pw-ip'), /^\+OK/);
  assert.match(await c.command('DELE 1'), /^\+OK/);
  assert.match(await c.command('QUIT'), /^\+OK/);
  await c.waitClosed();
  const trash = join(dir, 'mail', 'ip', '.Trash', 'cur');
  const moved = readdirSync(trash);
  assert.equal(moved.length, 1);
  assert.ok(moved[0].startsWith(NAMES[0]));
  assert.equal(readdirSync(join(dir, 'mail', 'ip', 'cur')).length, NAMES.length - 1);
});

test('LOGIN-DELAY (reloaded): stamp file in the Maildir, second login refused', async () => {
  const path = join(host.dir, 'c11n');
  writeFileSync(path, `${readFileSync(path, 'utf8')}login_delay = 1h\n`);
  host.signal('SIGHUP');
  await host.waitForLog((r) => r.msg === 'reloaded' && String(r.options).includes('login_delay'));
  const c = await connect(port);
  assert.ok((await c.multiline('CAPA')).lines.includes('LOGIN-DELAY 3600'));
  await c.command('USER sasl');
  assert.match(await c.command('PASS pw-sasl'), /^\+OK/);
  await c.command('QUIT');
  assert.ok(existsSync(join(dir, 'mail', 'sasl', 'pop3.lastlogin')));
  const d = await connect(port);
  await d.command('USER sasl');
  assert.match(await d.command('PASS pw-sasl'), /^-ERR \[LOGIN-DELAY\]/);
  d.close();
});
