// The two locks of an mbox maildrop. Synchronous: runs in a worker thread.
//
// 1. The dotlock `USER.lock` beside the mbox: the lock every MDA takes before appending (Postfix
//    local, procmail, Dovecot LDA, exim, mutt). Created with O_CREAT|O_EXCL, held only while the
//    file is read at open and rewritten at QUIT, never for the whole session, so deliveries wait
//    at most for one scan or one rewrite. Stale (left by a crashed program) when its mtime is
//    older than `staleMs` (procmail, mutt and Dovecot use minutes): it is renamed aside, checked,
//    and removed, so two processes breaking it at once cannot both win.
// 2. The session lock `USER.pop3.lock` (RFC 1939 exclusive access, `-ERR [IN-USE]`): held for
//    the whole session, with the Maildir lock's rules (holder host/pid/instance/token, refreshed
//    mtime; see ../maildir/lock.ts). MDAs do not know it and are never blocked by it.
import { unlinkSync } from 'node:fs';
import { errno } from '../maildir/files.js';
import {
  acquireLockFile,
  breakLock,
  createExclusive,
  type LockOwner,
  readLock,
  releaseLockFile,
  touchLockFile,
} from '../maildir/lock.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Block this worker thread (never the event loop: these functions only run in workers). */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export const dotlockPath = (mbox: string): string => `${mbox}.lock`;
export const sessionLockPath = (mbox: string): string => `${mbox}.pop3.lock`;

/**
 * Take the dotlock, waiting up to `waitMs` for a delivery in progress. 'busy' when still held.
 * Throws on IO errors (EACCES: the server cannot write the spool directory).
 */
export function dotlock(mbox: string, waitMs: number, staleMs: number): 'locked' | 'busy' {
  const file = dotlockPath(mbox);
  const text = `${process.pid}\n`;
  const until = Date.now() + waitMs;
  for (;;) {
    if (createExclusive(file, text, 0o644)) return 'locked';
    const held = readLock(file);
    if (held === null) continue;
    if (Date.now() - held.mtimeMs > staleMs) {
      breakLock(file, held.text, String(process.pid));
      continue;
    }
    if (Date.now() >= until) return 'busy';
    sleepSync(100);
  }
}

export function undotlock(mbox: string): void {
  try {
    unlinkSync(dotlockPath(mbox));
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }
}

/** The session lock: 'in-use' when a live session holds it. */
export function lockSession(mbox: string, o: LockOwner, staleMs: number): 'locked' | 'in-use' {
  // Not parked (see ../maildir/lock.ts): a parked `USER.pop3.lock.free` would stay in the spool
  // directory for good, where other programs take every file for a mailbox.
  return acquireLockFile(sessionLockPath(mbox), o, staleMs, false);
}

export function unlockSession(mbox: string, o: LockOwner): boolean {
  return releaseLockFile(sessionLockPath(mbox), o, false);
}

export function touchSession(mbox: string, o: LockOwner): boolean {
  return touchLockFile(sessionLockPath(mbox), o, Date.now());
}
