// Pure parts of the seed-server features: the notification datagram, the mail path template, the
// system-user task on fixture files, socket-activation fd matching, popa3d's wording, mbox edge cases.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mailPath } from '../../modules/pop3/auth/system.js';
import { systemLogin } from '../../modules/pop3/auth/system-tasks.js';
import { parseMbox } from '../../modules/pop3/mbox/parse.js';
import { createNotifier, notice, parseDestination } from '../../modules/pop3/notify.js';
import { popa3dLines } from '../../modules/pop3/observe.js';
import type { Logger } from '../../src/api.js';
import { inheritedFds } from '../../src/net/activation.js';

const W = { stripNul: false, ensureHeaderEnd: false };

test('notice: popserv lines, HMAC-SHA256 over everything before its line, no MAC without a secret', () => {
  const n = { user: 'joe', ip: '192.0.2.7', time: 1_700_000_000 };
  const d = notice(n, 'mail.example.com', 'k', '0011223344556677').toString();
  const body =
    'service pop\nuser joe\nip 192.0.2.7\ntime 1700000000\nsource mail.example.com\nnonce 0011223344556677\n';
  assert.equal(d, `${body}hmac-sha256 ${createHmac('sha256', 'k').update(body).digest('hex')}\n.\n`);
  assert.equal(
    notice(n, 'm', undefined, 'x').toString(),
    'service pop\nuser joe\nip 192.0.2.7\ntime 1700000000\nsource m\nnonce x\n.\n',
  );
  // A line break in a field cannot add a field.
  assert.match(notice({ ...n, user: 'a\nip 1.2.3.4' }, 'm', 'k').toString(), /^user a\?ip 1\.2\.3\.4$/m);
});

test('parseDestination: host:port and [v6]:port', () => {
  assert.deepEqual(parseDestination('127.0.0.1:514'), { host: '127.0.0.1', port: 514 });
  assert.deepEqual(parseDestination('[ff02::1]:7000'), { host: 'ff02::1', port: 7000 });
  assert.deepEqual(parseDestination('relay.example.com:99'), { host: 'relay.example.com', port: 99 });
  assert.equal(parseDestination('nohost'), null);
  assert.equal(parseDestination('h:0'), null);
  assert.equal(parseDestination('h:70000'), null);
});

test('mailPath: %u, %h, ~ and %%; a relative result is refused', () => {
  assert.equal(mailPath('/var/mail/%u', 'joe', '/home/joe'), '/var/mail/joe');
  assert.equal(mailPath('~/Maildir/', 'joe', '/home/joe'), '/home/joe/Maildir/');
  assert.equal(mailPath('%h/mbox', 'joe', '/home/joe'), '/home/joe/mbox');
  assert.equal(mailPath('/spool/100%%/%u', 'joe', '/h'), '/spool/100%/joe');
  assert.equal(mailPath('mail/%u', 'joe', '/h'), null);
});

test('systemLogin: shadow hashes (SHA-512, MD5), an old passwd-field hash, min_uid, locked accounts, yescrypt', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'system-users-'));
  try {
    const sha = execFileSync('openssl', ['passwd', '-6', 'pw6'], { encoding: 'utf8' }).trim();
    const md5 = execFileSync('openssl', ['passwd', '-1', 'pw1'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(dir, 'passwd'),
      [
        'root:x:0:0:root:/root:/bin/bash',
        'six:x:1000:1000::/home/six:/bin/sh',
        'one:x:1001:1001::/home/one:/bin/sh',
        `old:${md5}:1002:1002::/home/old:/bin/sh`,
        'lock:x:1003:1003::/home/lock:/bin/sh',
        'yes:x:1004:1004::/home/yes:/bin/sh',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'shadow'),
      [
        `root:${sha}:1::::::`,
        `six:${sha}:1::::::`,
        `one:${md5}:1::::::`,
        `lock:!${sha}:1::::::`,
        'yes:$y$j9T$abc$def:1::::::',
      ].join('\n'),
    );
    const login = (user: string, password: string, minUid = 1000) =>
      systemLogin({
        user,
        password,
        passwdFile: join(dir, 'passwd'),
        shadowFile: join(dir, 'shadow'),
        minUid,
      });
    assert.deepEqual(await login('six', 'pw6'), { ok: true, uid: 1000, home: '/home/six' });
    assert.deepEqual(await login('one', 'pw1'), { ok: true, uid: 1001, home: '/home/one' });
    assert.deepEqual(await login('old', 'pw1'), { ok: true, uid: 1002, home: '/home/old' });
    assert.deepEqual(await login('six', 'wrong'), { ok: false, reason: 'invalid' });
    assert.deepEqual(await login('root', 'pw6'), { ok: false, reason: 'invalid' });
    assert.deepEqual(await login('root', 'pw6', 0), { ok: true, uid: 0, home: '/root' });
    assert.deepEqual(await login('lock', 'pw6'), { ok: false, reason: 'invalid' });
    assert.deepEqual(await login('nobody', 'pw6'), { ok: false, reason: 'invalid' });
    assert.deepEqual(await login('yes', 'x'), { ok: false, reason: 'invalid', scheme: 'y' });
    const gone = await systemLogin({
      user: 'six',
      password: 'pw6',
      passwdFile: join(dir, 'nope'),
      shadowFile: '',
      minUid: 0,
    });
    assert.equal(gone.ok === false && gone.reason, 'temporary');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inheritedFds: only for our pid; names from LISTEN_FDNAMES; fds from 3', () => {
  assert.deepEqual(inheritedFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'pop3:pop3s' }, 42), [
    { fd: 3, name: 'pop3' },
    { fd: 4, name: 'pop3s' },
  ]);
  assert.deepEqual(inheritedFds({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42), []);
  assert.deepEqual(inheritedFds({ LISTEN_FDS: '1' }, 42), []);
  assert.deepEqual(inheritedFds({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42), [{ fd: 3, name: undefined }]);
});

test("popa3d's wording", () => {
  assert.equal(popa3dLines.passed('test'), 'Authentication passed for test');
  assert.equal(popa3dLines.loaded(1, 437), '1 message (437 bytes) loaded');
  assert.equal(popa3dLines.loaded(2, 10), '2 messages (10 bytes) loaded');
  assert.equal(
    popa3dLines.updated({ deleted: 0, deletedBytes: 0, failed: 0, left: 1, leftBytes: 437 }),
    '0 (0) deleted, 1 (437) left',
  );
});

test('mbox edge cases: CRLF files, leading empty lines, an empty message, no From_ line', () => {
  const crlf = Buffer.from(
    'From a Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nbody\r\n\r\nFrom b Mon Jan  1 00:00:01 2024\r\n\r\n',
  );
  const m = parseMbox(crlf, W, 'mboxrd');
  assert.equal(m.length, 2);
  assert.equal(crlf.toString('latin1', m[0].start, m[0].end), 'Subject: x\r\n\r\nbody\r\n');
  assert.equal(m[0].size, Buffer.byteLength('Subject: x\r\n\r\nbody\r\n'));
  assert.equal(m[1].size, 0, 'a From_ line followed by the separator only is an empty message');
  const lead = parseMbox(Buffer.from('\n\nFrom a Mon Jan  1 00:00:00 2024\nS: 1\n\nb\n'), W, 'mboxrd');
  assert.equal(lead.length, 1);
  assert.equal(lead[0].size, Buffer.byteLength('S: 1\r\n\r\nb\r\n'));
  assert.equal(parseMbox(Buffer.from(''), W, 'mboxrd').length, 0);
  // Without a date the line is prose, not a separator.
  assert.equal(
    parseMbox(Buffer.from('From a Mon Jan  1 00:00:00 2024\n\nx\n\nFrom here on\n'), W, 'mboxrd').length,
    1,
  );
});

test('notifier: a failing destination is logged once and never throws; a good one delivers', async () => {
  const warns: unknown[] = [];
  const log = { warn: (o: unknown) => warns.push(o) } as unknown as Logger;
  const bad = createNotifier(
    () => ({ destination: 'no-such-host.invalid:9', ttl: 1, secret: 'k', server: 's' }),
    log,
  );
  bad.loginOk('joe', '192.0.2.1');
  bad.loginOk('joe', '192.0.2.1');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(warns.length, 1, 'logged once');
  bad.close();
  const rx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((r) => rx.once('message', r));
  const good = createNotifier(
    () => ({ destination: `127.0.0.1:${rx.address().port}`, ttl: 1, secret: undefined, server: 's' }),
    log,
  );
  good.loginOk('ann', '192.0.2.2');
  const d = await Promise.race([
    got,
    new Promise<Buffer>((_, j) => setTimeout(() => j(new Error('no datagram')), 2000)),
  ]);
  assert.match(d.toString(), /^service pop\nuser ann\nip 192\.0\.2\.2\n/);
  assert.doesNotMatch(d.toString(), /hmac/);
  good.close();
  rx.close();
});
