import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  acquireLock,
  LOCK_FILE,
  type LockOwner,
  releaseLock,
  touchLock,
} from '../../modules/pop3/maildir/lock.js';

const root = mkdtempSync(join(tmpdir(), 'maildir-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function dir(): string {
  const d = join(root, String(++n));
  spawnSync('mkdir', ['-p', d]);
  return d;
}
const me = (token: string): LockOwner => ({ host: hostname(), pid: process.pid, instance: 'inst-a', token });
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid as number;

test('a second lock is in-use; release by the holder frees it; release by another does nothing', () => {
  const d = dir();
  assert.equal(acquireLock(d, me('t1'), 60_000), 'locked');
  assert.match(
    readFileSync(join(d, LOCK_FILE), 'latin1'),
    new RegExp(`^${hostname()} ${process.pid} inst-a t1 \\d+\\n$`),
  );
  assert.equal(acquireLock(d, me('t2'), 60_000), 'in-use');
  assert.equal(releaseLock(d, me('t2')), false);
  assert.ok(existsSync(join(d, LOCK_FILE)), 'not removed by a non-holder');
  assert.equal(releaseLock(d, me('t1')), true);
  assert.equal(acquireLock(d, me('t2'), 60_000), 'locked');
});

test('same host, dead pid: stale at once and broken (renamed away, nothing left behind)', () => {
  const d = dir();
  writeFileSync(join(d, LOCK_FILE), `${hostname()} ${deadPid()} other t0 ${Date.now()}\n`);
  assert.equal(acquireLock(d, me('t1'), 0), 'locked');
  assert.deepEqual(readdirSync(d), [LOCK_FILE]);
  assert.match(readFileSync(join(d, LOCK_FILE), 'latin1'), / t1 /);
});

test('same host, our pid but an earlier process instance: stale', () => {
  const d = dir();
  writeFileSync(join(d, LOCK_FILE), `${hostname()} ${process.pid} inst-old t0 ${Date.now()}\n`);
  assert.equal(acquireLock(d, me('t1'), 0), 'locked');
});

test('same host, live pid (another process): in-use', () => {
  const d = dir();
  writeFileSync(join(d, LOCK_FILE), `${hostname()} 1 x t0 ${Date.now()}\n`);
  assert.equal(acquireLock(d, me('t1'), 60_000), 'in-use');
});

test('another host: in-use while fresh, stale once its mtime is older than lockStaleMs', () => {
  const d = dir();
  const p = join(d, LOCK_FILE);
  writeFileSync(p, `other.example 4242 x t0 ${Date.now()}\n`);
  assert.equal(acquireLock(d, me('t1'), 60_000), 'in-use');
  const old = (Date.now() - 120_000) / 1000;
  utimesSync(p, old, old);
  assert.equal(acquireLock(d, me('t1'), 0), 'in-use', 'lockStaleMs 0: never stale by age');
  assert.equal(acquireLock(d, me('t1'), 60_000), 'locked');
});

test('touch refreshes the holder mtime only', () => {
  const d = dir();
  const p = join(d, LOCK_FILE);
  assert.equal(acquireLock(d, me('t1'), 60_000), 'locked');
  const old = (Date.now() - 120_000) / 1000;
  utimesSync(p, old, old);
  assert.equal(touchLock(d, me('t2')), false);
  assert.ok(Date.now() - statSync(p).mtimeMs > 100_000);
  assert.equal(touchLock(d, me('t1')), true);
  assert.ok(Date.now() - statSync(p).mtimeMs < 10_000);
});

test('a missing Maildir is an error, not a lock', () => {
  assert.throws(() => acquireLock(join(root, 'nope'), me('t'), 0), { code: 'ENOENT' });
});
