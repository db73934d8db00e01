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
  PARKED_SUFFIX,
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

test('a released lock is parked and taken back by link: the same inode, no new file per session', () => {
  const d = dir();
  const p = join(d, LOCK_FILE);
  const parked = p + PARKED_SUFFIX;
  assert.equal(acquireLock(d, me('t1'), 60_000), 'locked');
  assert.equal(releaseLock(d, me('t1')), true);
  assert.deepEqual(readdirSync(d), [LOCK_FILE + PARKED_SUFFIX]);
  assert.match(readFileSync(parked, 'latin1'), /^free \d+\n/, 'released: no holder named in it');
  const ino = statSync(parked).ino;
  for (const t of ['t2', 't3']) {
    assert.equal(acquireLock(d, me(t), 60_000), 'locked');
    assert.equal(statSync(p).ino, ino);
    assert.equal(statSync(p).nlink, 2);
    assert.equal(readFileSync(p, 'latin1').split('\n')[0].split(' ')[3], t);
    assert.equal(acquireLock(d, me('other'), 60_000), 'in-use');
    assert.equal(releaseLock(d, me('other')), false);
    assert.equal(releaseLock(d, me(t)), true);
    assert.deepEqual(readdirSync(d), [LOCK_FILE + PARKED_SUFFIX]);
    assert.equal(statSync(parked).ino, ino);
  }
});

test('a line written over a longer one: only the first line counts', () => {
  const d = dir();
  const parked = join(d, LOCK_FILE + PARKED_SUFFIX);
  writeFileSync(parked, `free ${Date.now()}\n${'x'.repeat(300)} 1 i tail-token 0\n`);
  const long: LockOwner = { host: 'h'.repeat(200), pid: process.pid, instance: 'inst-a', token: 'long' };
  assert.equal(acquireLock(d, long, 60_000), 'locked');
  assert.equal(releaseLock(d, long), true);
  assert.equal(acquireLock(d, me('short'), 60_000), 'locked');
  assert.equal(releaseLock(d, { ...long, token: 'tail-token' }), false);
  assert.equal(touchLock(d, me('short')), true);
  assert.equal(releaseLock(d, me('short')), true);
});

test('a "free" line (a session between link and write): in-use until its ctime is older than lockStaleMs', async () => {
  const d = dir();
  const p = join(d, LOCK_FILE);
  writeFileSync(p, `free ${Date.now() - 3_600_000}\n`);
  const old = (Date.now() - 3_600_000) / 1000;
  utimesSync(p, old, old); // an old mtime does not make it stale: the link set the ctime
  assert.equal(acquireLock(d, me('t1'), 60_000), 'in-use');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(acquireLock(d, me('t1'), 10), 'locked');
  assert.match(readFileSync(p, 'latin1'), / t1 /);
});

test('breaking a stale parked lock drops the parked name too: the dead line is never taken back', () => {
  const d = dir();
  const p = join(d, LOCK_FILE);
  const parked = p + PARKED_SUFFIX;
  assert.equal(acquireLock(d, me('t0'), 60_000), 'locked');
  assert.equal(releaseLock(d, me('t0')), true);
  // A holder that died holding it: the lock and the parked name are one file with its line.
  const dead: LockOwner = { host: hostname(), pid: deadPid(), instance: 'x', token: 'dead' };
  assert.equal(acquireLock(d, dead, 60_000), 'locked');
  assert.equal(statSync(p).nlink, 2);
  assert.equal(acquireLock(d, me('t1'), 60_000), 'locked');
  assert.equal(existsSync(parked), false);
  assert.equal(statSync(p).nlink, 1, 'created afresh, not linked back');
  assert.match(readFileSync(p, 'latin1'), new RegExp(`^${hostname()} ${process.pid} inst-a t1 \\d+\\n$`));
  assert.equal(releaseLock(d, me('t1')), true);
  assert.deepEqual(readdirSync(d), [LOCK_FILE + PARKED_SUFFIX], 'parked again, nothing else left');
});
