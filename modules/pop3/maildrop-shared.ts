// What the Maildir and mbox stores share on the main thread: who holds a maildrop lock, and the
// message list a worker's listing turns into.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { LockOwner } from './maildir/lock.js';
import type { MessageInfo } from './seams.js';

/** A store's lock owners: one per open, each with its own token. */
export function lockOwners(): () => LockOwner {
  const host = hostname();
  // The process's start time: the same for every store in this process, different for a later
  // process that happens to get our pid (its lock left behind is then recognised as stale).
  const instance = Math.round(performance.timeOrigin).toString(36);
  const tokens = randomBytes(4).toString('hex');
  let opened = 0;
  return () => ({
    host,
    pid: process.pid,
    instance,
    token: `${instance}.${tokens}.${(++opened).toString(36)}`,
  });
}

/** The messages of a listing: `uids` newline-separated, in the order of `sizes`. */
export function messageList(
  uids: string,
  sizes: ArrayLike<number>,
): { messages: MessageInfo[]; totalSize: number } {
  const n = sizes.length;
  const ids = n === 0 ? [] : uids.split('\n');
  const messages: MessageInfo[] = new Array(n);
  let totalSize = 0;
  for (let i = 0; i < n; i++) {
    messages[i] = { uid: ids[i], size: sizes[i] };
    totalSize += sizes[i];
  }
  return { messages, totalSize };
}
