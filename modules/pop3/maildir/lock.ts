// The maildrop lock (RFC 1939 §4 exclusive access) across processes and machines sharing the
// Maildir over NFS: a file `pop3.lock` in the Maildir created with O_CREAT|O_EXCL (exclusive
// create is atomic on local file systems and on NFSv3 and later). It holds
// `<host> <pid> <instance> <token> <epoch ms>`.
//
// Stale locks: on the same host, a holder whose pid is gone (or is our own pid but from an
// earlier process instance) is stale at once; on any host, a lock whose mtime is older than
// `staleMs` is stale (a live holder refreshes the mtime, see touchLock). A stale lock is broken
// by renaming it to a unique name first, so two processes breaking it at once cannot both win;
// if what we renamed away turns out not to be the lock we judged stale, it is put back.
// Synchronous: runs in a worker thread.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { errno } from './files.js';

export const LOCK_FILE = 'pop3.lock';

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

/** Throws on IO errors other than "held by someone" (ENOENT when the Maildir does not exist). */
export function acquireLock(dir: string, o: LockOwner, staleMs: number, now = Date.now()): LockResult {
  const path = `${dir}/${LOCK_FILE}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(path, lockText(o, now), 0o600)) return 'locked';
    const held = readLock(path);
    if (held === null) continue; // released meanwhile: try again
    if (!isStale(held.text, held.mtimeMs, o, staleMs, now)) return 'in-use';
    // Restored: between our look and the rename the stale lock was replaced by a live one.
    if (breakLock(path, held.text, `${o.host}.${o.pid}`) === 'restored') return 'in-use';
  }
  return 'in-use';
}

/** A lock file's text and mtime, or null when it is gone. Throws other errors. */
export function readLock(path: string): { text: string; mtimeMs: number } | null {
  try {
    return { text: readFileSync(path, 'latin1'), mtimeMs: statSync(path).mtimeMs };
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
 * 'gone' when it had been removed meanwhile (someone else broke it first).
 */
export function breakLock(path: string, seen: string, tag: string): 'broken' | 'gone' | 'restored' {
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

export function isStale(text: string, mtimeMs: number, o: LockOwner, staleMs: number, now: number): boolean {
  const [host, pidText, instance] = text.split(' ');
  const pid = Number(pidText);
  if (host === o.host && Number.isSafeInteger(pid) && pid > 0) {
    if (pid === o.pid) {
      if (instance !== o.instance) return true;
    } else if (!alive(pid)) {
      return true;
    }
  }
  return staleMs > 0 && now - mtimeMs > staleMs;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM'; // exists, belongs to another user
  }
}

function holds(path: string, o: LockOwner): boolean {
  try {
    return readFileSync(path, 'latin1').split(' ')[3] === o.token;
  } catch (e) {
    if (errno(e) === 'ENOENT') return false;
    throw e;
  }
}

/** Remove the lock if it is still ours (it may have been broken as stale and taken by another). */
export function releaseLock(dir: string, o: LockOwner): boolean {
  return releaseLockFile(`${dir}/${LOCK_FILE}`, o);
}

/** Refresh the lock's mtime during a long session so no other host judges it stale. */
export function touchLock(dir: string, o: LockOwner, now = Date.now()): boolean {
  return touchLockFile(`${dir}/${LOCK_FILE}`, o, now);
}

/** releaseLock for an owner lock file at any path. */
export function releaseLockFile(path: string, o: LockOwner): boolean {
  if (!holds(path, o)) return false;
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
