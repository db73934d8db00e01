// The maildrop lock (RFC 1939 §4 exclusive access) across processes and machines sharing the
// Maildir over NFS: `pop3.lock` in the Maildir. Its first line is
// `<host> <pid> <instance> <token> <epoch ms>` (a line written over a longer one leaves a tail
// after it, never read), or `free <epoch ms>` between two holders.
//
// Taken without a new inode: a released lock is parked as `pop3.lock.free`, and the next session
// takes it with link(pop3.lock.free, pop3.lock), which fails with EEXIST while the lock is held,
// as O_CREAT|O_EXCL does (both atomic on local file systems and on NFSv3 and later), then writes
// its line over the old one. Why: a file created and removed per session made ext4 allocate an
// inode at every poll, and on an ext4 without journal (this bench machine's) the allocator scans
// past every inode freed in the last half minute, so the cost grew with the session rate (perf:
// inode allocation 11 % of the host's CPU at 1,300 sessions/s). Only when nothing is parked (the
// first session, or after a stale lock was broken) is the lock created with O_CREAT|O_EXCL.
// Release writes `free` first, so a session that has just linked the parked file is never seen
// with its predecessor's line (which could name a process that died since).
//
// Stale locks: on the same host, a holder whose pid is gone (or is our own pid but from an
// earlier process instance) is stale at once; on any host, a lock whose mtime is older than
// `staleMs` is stale (a live holder refreshes the mtime, see touchLock); a `free` line is stale
// once its ctime (set by the link) is older than `staleMs`: a session died between link and
// write. A stale lock is broken by renaming it to a unique name first, so two processes breaking
// it at once cannot both win; if what we renamed away turns out not to be the lock we judged
// stale, it is put back. Synchronous: runs in a worker thread.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { errno } from './files.js';

export const LOCK_FILE = 'pop3.lock';
/** Where a released lock is parked for the next session (see the top of this file). */
export const PARKED_SUFFIX = '.free';

export interface LockOwner {
  host: string;
  pid: number;
  /** Per process (its start time): tells our pid from an earlier process that had the same pid. */
  instance: string;
  /** Random per open: tells this session's lock from any other. */
  token: string;
}

export type LockResult = 'locked' | 'in-use';

export function lockText(o: LockOwner, now: number): string {
  return `${o.host} ${o.pid} ${o.instance} ${o.token} ${now}\n`;
}

const freeText = (now: number): string => `free ${now}\n`;

/** The line that counts: the first (a tail may follow it, see the top of this file). */
function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

/** Throws on IO errors other than "held by someone" (ENOENT when the Maildir does not exist). */
export function acquireLock(dir: string, o: LockOwner, staleMs: number, now = Date.now()): LockResult {
  return acquireLockFile(`${dir}/${LOCK_FILE}`, o, staleMs, true, now);
}

/**
 * acquireLock for an owner lock file at any path; `park`: take and leave the lock parked beside
 * it (`path` + PARKED_SUFFIX) instead of creating and removing a file per session.
 */
export function acquireLockFile(
  path: string,
  o: LockOwner,
  staleMs: number,
  park: boolean,
  now = Date.now(),
): LockResult {
  const text = lockText(o, now);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (park ? takeParked(path, text) : createExclusive(path, text, 0o600)) return 'locked';
    const held = readLock(path);
    if (held === null) continue; // released meanwhile: try again
    if (!isStale(held, o, staleMs, now)) return 'in-use';
    const parked = park ? path + PARKED_SUFFIX : undefined;
    // Restored: between our look and the rename the stale lock was replaced by a live one.
    if (breakLock(path, held.text, `${o.host}.${o.pid}`, parked) === 'restored') return 'in-use';
  }
  return 'in-use';
}

/** Take the parked lock (or create one when none is parked) and write `text` in it; false when held. */
function takeParked(path: string, text: string): boolean {
  try {
    linkSync(path + PARKED_SUFFIX, path);
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    // ENOENT: nothing parked (or no Maildir: the create says which). EPERM, EXDEV, ENOTSUP...: a
    // file system without hard links; the create works there too.
    return createExclusive(path, text, 0o600);
  }
  try {
    const fd = openSync(path, 'r+');
    try {
      writeSync(fd, text, 0, 'latin1');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    unlinkIfThere(path); // not ours to keep without our line in it
    throw e;
  }
  return true;
}

export interface HeldLock {
  text: string;
  mtimeMs: number;
  ctimeMs: number;
}

/** A lock file's text and times, or null when it is gone. Throws other errors. */
export function readLock(path: string): HeldLock | null {
  try {
    const text = readFileSync(path, 'latin1');
    const st = statSync(path);
    return { text, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  }
}

/** Create `path` exclusively with `text`; false when it exists. Throws other errors. */
export function createExclusive(path: string, text: string, mode: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Break a lock judged stale when it held `seen`: rename it aside (a name unique by `tag` and random
 * bytes) and remove it; if what was renamed away is not what was judged, it is put back.
 * 'gone' when it had been removed meanwhile (someone else broke it first). `parked`: the parked
 * lock's name, dropped first (it may be the very file judged stale, linked under both names), so
 * that no session takes the broken lock's inode back with the dead holder's line in it.
 */
export function breakLock(
  path: string,
  seen: string,
  tag: string,
  parked?: string,
): 'broken' | 'gone' | 'restored' {
  if (parked !== undefined) unlinkIfThere(parked);
  const aside = `${path}.stale.${tag}.${randomBytes(6).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if (errno(e) === 'ENOENT') return 'gone';
    throw e;
  }
  if (readFileSync(aside, 'latin1') !== seen) {
    try {
      linkSync(aside, path);
    } catch {
      // A third party holds the lock now; either way it is not ours.
    }
    unlinkSync(aside);
    return 'restored';
  }
  unlinkSync(aside);
  return 'broken';
}

export function isStale(held: HeldLock, o: LockOwner, staleMs: number, now: number): boolean {
  const [host, pidText, instance] = firstLine(held.text).split(' ');
  if (host === 'free') return staleMs > 0 && now - held.ctimeMs > staleMs;
  const pid = Number(pidText);
  if (host === o.host && Number.isSafeInteger(pid) && pid > 0) {
    if (pid === o.pid) {
      if (instance !== o.instance) return true;
    } else if (!alive(pid)) {
      return true;
    }
  }
  return staleMs > 0 && now - held.mtimeMs > staleMs;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM'; // exists, belongs to another user
  }
}

const tokenOf = (text: string): string | undefined => firstLine(text).split(' ')[3];

function holds(path: string, o: LockOwner): boolean {
  try {
    return tokenOf(readFileSync(path, 'latin1')) === o.token;
  } catch (e) {
    if (errno(e) === 'ENOENT') return false;
    throw e;
  }
}

/** Remove the lock if it is still ours (it may have been broken as stale and taken by another). */
export function releaseLock(dir: string, o: LockOwner): boolean {
  return releaseLockFile(`${dir}/${LOCK_FILE}`, o, true);
}

/** Refresh the lock's mtime during a long session so no other host judges it stale. */
export function touchLock(dir: string, o: LockOwner, now = Date.now()): boolean {
  return touchLockFile(`${dir}/${LOCK_FILE}`, o, now);
}

const lineBuf = Buffer.allocUnsafe(1024);

/** releaseLock for an owner lock file at any path; `park` as for acquireLockFile. */
export function releaseLockFile(path: string, o: LockOwner, park: boolean): boolean {
  if (!park) {
    if (!holds(path, o)) return false;
    return unlinkIfThere(path);
  }
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (e) {
    if (errno(e) === 'ENOENT') return false;
    throw e;
  }
  let parkedToo: boolean;
  try {
    // The token is in the first 1,024 bytes: a host name is at most 255.
    const n = readSync(fd, lineBuf, 0, lineBuf.length, 0);
    if (tokenOf(lineBuf.toString('latin1', 0, n)) !== o.token) return false;
    writeSync(fd, freeText(Date.now()), 0, 'latin1');
    // Two links: it is parked already (taken by link); one: it was created, park it now.
    parkedToo = fstatSync(fd).nlink > 1;
  } finally {
    closeSync(fd);
  }
  if (!parkedToo) {
    try {
      linkSync(path, path + PARKED_SUFFIX);
    } catch {
      // Not parked (no hard links here, or a parked file appeared): the next session creates one.
    }
  }
  return unlinkIfThere(path);
}

function unlinkIfThere(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if (errno(e) === 'ENOENT') return false;
    throw e;
  }
}

/** touchLock for an owner lock file at any path. */
export function touchLockFile(path: string, o: LockOwner, now: number): boolean {
  if (!holds(path, o)) return false;
  const t = now / 1000;
  utimesSync(path, t, t);
  return true;
}
