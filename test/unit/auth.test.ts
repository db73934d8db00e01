// Authenticator pieces without a database server: maildir_root containment, the APOP digest,
// config validation, and how database failures are reported (a stand-in Database that throws).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { pino } from 'pino';
import {
  apopMatches,
  createSqlAuthenticator,
  type SqlAuthConfig,
  validateSqlAuthConfig,
} from '../../modules/pop3/auth/sql.js';
import type { Database, WorkerPool } from '../../src/api.js';
import { underRoot } from '../../src/auth/maildrop.js';

test('underRoot: relative paths under the root, escapes refused', () => {
  assert.equal(underRoot('/var/mail', 'example.com/joe'), '/var/mail/example.com/joe');
  assert.equal(underRoot('/var/mail/', 'example.com/joe/'), '/var/mail/example.com/joe');
  assert.equal(underRoot('/var/mail', '/var/mail/a/b'), '/var/mail/a/b');
  assert.equal(underRoot('/var/mail', 'a/../b'), '/var/mail/b');
  assert.equal(underRoot('/var/mail', '..foo/x'), '/var/mail/..foo/x');
  assert.equal(underRoot('/var/mail', '../etc'), null);
  assert.equal(underRoot('/var/mail', 'a/../../etc'), null);
  assert.equal(underRoot('/var/mail', '/var/mailx/joe'), null);
  assert.equal(underRoot('/var/mail', '/etc/passwd'), null);
  assert.equal(underRoot('/var/mail', 'joe\0/x'), null);
  // The root is remembered between calls: another root must not see the last one's answer.
  assert.equal(underRoot('/', 'srv/mail/joe'), '/srv/mail/joe');
  assert.equal(underRoot('/srv/mail', '/var/mail/joe'), null);
  assert.equal(underRoot('/var/mail', '/var/mail/joe'), '/var/mail/joe');
  assert.equal(underRoot('/var/mail', '/var/mail'), '/var/mail');
  // A relative root follows the working directory; it is never remembered.
  const cwd = process.cwd();
  try {
    process.chdir('/tmp');
    assert.equal(underRoot('mail', 'joe'), '/tmp/mail/joe');
    process.chdir('/');
    assert.equal(underRoot('mail', 'joe'), '/mail/joe');
  } finally {
    process.chdir(cwd);
  }
});

test('APOP digest: RFC 1939 example, any hex case, only plaintext stored values', () => {
  // RFC 1939 §7: APOP mrose c4c9334bac560ecc979e58001b3e22fb
  const banner = '<1896.697170952@dbc.mtview.ca.us>';
  assert.equal(apopMatches(banner, 'c4c9334bac560ecc979e58001b3e22fb', '{PLAIN}tanstaaf'), true);
  assert.equal(apopMatches(banner, 'C4C9334BAC560ECC979E58001B3E22FB', 'tanstaaf'), true);
  assert.equal(apopMatches(banner, 'c4c9334bac560ecc979e58001b3e22fa', '{PLAIN}tanstaaf'), false);
  assert.equal(apopMatches(banner, 'c4c9', '{PLAIN}tanstaaf'), false);
  const md5crypt = '{MD5-CRYPT}$1$EutQjNxd$FjhAYGHKOc54eepyXEzfp1';
  const digest = createHash('md5').update(`${banner}${md5crypt}`).digest('hex');
  assert.equal(apopMatches(banner, digest, md5crypt), false, 'knowing the hash is not knowing the password');
});

test('validateSqlAuthConfig: clear errors at config time', () => {
  const ok: SqlAuthConfig = { query: "SELECT m FROM t WHERE u='%u'", maildirRoot: '/var/mail' };
  validateSqlAuthConfig(ok);
  assert.throws(
    () => validateSqlAuthConfig({ ...ok, query: 'SELECT m WHERE u=%z' }),
    /maildrop query: unknown escape %z/,
  );
  assert.throws(
    () => validateSqlAuthConfig({ ...ok, loginLogQuery: "UPDATE t SET p='%p'" }),
    /login-log query: %p is not available/,
  );
  assert.throws(
    () => validateSqlAuthConfig({ ...ok, loginLogQuery: 'UPDATE t SET x=%' }),
    /login-log query: a lone %/,
  );
  assert.throws(() => validateSqlAuthConfig({ ...ok, maildirRoot: 'mail' }), /absolute/);
});

function failingDb(err: Error): Database {
  return {
    id: 'x',
    driver: 'mysql',
    query: () => Promise.reject(err),
    execute: () => Promise.reject(err),
    stats: () => ({ id: 'x', driver: 'mysql', min: 0, max: 0, busy: 0, total: 0, queries: 0, errors: 0 }),
  };
}
const noWorkers = {
  run: () => Promise.reject(new Error('unused')),
  offload: () => Promise.reject(new Error('unused')),
} as unknown as WorkerPool;
const log = pino({ level: 'silent' });

test('database errors are temporary; a password a driver echoed is taken out of the detail', async () => {
  const err = Object.assign(new Error("near 'hunter2' at line 1: connect ECONNREFUSED"), {
    code: 'ECONNREFUSED',
  });
  const cfg: SqlAuthConfig = { query: "SELECT m FROM t WHERE u='%u' AND p='%p'", maildirRoot: '/var/mail' };
  const auth = createSqlAuthenticator({
    config: () => cfg,
    database: () => failingDb(err),
    workers: noWorkers,
  });
  const ctx = { remoteAddress: '10.1.1.1', session: { delays: 0 }, log };
  const r = await auth.login({ kind: 'plain', user: 'u', password: 'hunter2' }, ctx);
  assert.deepEqual(r, {
    ok: false,
    reason: 'temporary',
    detail: "ECONNREFUSED: near '***' at line 1: connect ECONNREFUSED",
  });
  // recordLogin swallows the failure
  await auth.recordLogin?.('u', ctx);
});

test('a bad query in the live config is permanent, not a crash', async () => {
  const cfg: SqlAuthConfig = { query: 'SELECT %x', maildirRoot: '/var/mail' };
  const auth = createSqlAuthenticator({
    config: () => cfg,
    database: () => failingDb(new Error('x')),
    workers: noWorkers,
  });
  const r = await auth.login(
    { kind: 'plain', user: 'u', password: 'p' },
    { remoteAddress: '', session: { delays: 0 }, log },
  );
  assert.equal(!r.ok && r.reason, 'permanent');
  assert.equal(auth.apopCapable, false);
});
