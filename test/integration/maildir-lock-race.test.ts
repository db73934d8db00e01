// The maildrop lock under contention: several processes take and give back the lock of one
// Maildir as fast as they can, through both ways of taking it (creating it when nothing is parked,
// linking the parked file back). Mutual exclusion is checked with a second, independent lock:
// whoever holds pop3.lock creates `held` with O_EXCL, and finding it already there is a violation.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LOCK_FILE, PARKED_SUFFIX } from '../../modules/pop3/maildir/lock.js';

const root = mkdtempSync(join(tmpdir(), 'maildir-lock-race-'));
after(() => rmSync(root, { recursive: true, force: true }));

const LOCK_JS = new URL('../../modules/pop3/maildir/lock.js', import.meta.url).href;

// One contender: `rounds` attempts; prints "<locked> <in-use> <violations>".
const contender = `
import { openSync, closeSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
const { acquireLock, releaseLock } = await import(process.argv[1]);
const [dir, rounds, startAt] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
while (Date.now() < startAt); // start together: the processes take different times to load
let locked = 0, inUse = 0, violations = 0;
for (let i = 0; i < rounds; i++) {
  const o = { host: hostname(), pid: process.pid, instance: 'race', token: process.pid + '.' + i };
  if (acquireLock(dir, o, 600000) === 'in-use') { inUse++; continue; }
  locked++;
  try { closeSync(openSync(dir + '/held', 'wx')); } catch { violations++; }
  try { unlinkSync(dir + '/held'); } catch {}
  if (!releaseLock(dir, o)) violations++;
}
process.stdout.write(locked + ' ' + inUse + ' ' + violations);
`;

function run(dir: string, rounds: number, startAt: number): Promise<[number, number, number]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [
      '--input-type=module',
      '-e',
      contender,
      LOCK_JS,
      dir,
      String(rounds),
      String(startAt),
    ]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`contender exited ${code}: ${err}`));
      resolve(out.split(' ').map(Number) as [number, number, number]);
    });
  });
}

test('four processes racing for one maildrop lock: never two holders, every release finds its own lock', async () => {
  const dir = join(root, 'Maildir');
  mkdirSync(dir);
  const startAt = Date.now() + 1000;
  const results = await Promise.all([1, 2, 3, 4].map(() => run(dir, 400, startAt)));
  let locked = 0;
  let inUse = 0;
  for (const [l, u, v] of results) {
    assert.equal(v, 0, 'a second holder or a lost lock');
    locked += l;
    inUse += u;
  }
  assert.equal(locked + inUse, 1600);
  assert.ok(locked >= 100, `locks taken: ${locked}`);
  assert.ok(inUse > 0, 'the contenders never met: nothing was tested');
  // Left behind: only the parked lock (its last holder released it).
  assert.deepEqual(readdirSync(dir), [LOCK_FILE + PARKED_SUFFIX]);
});
