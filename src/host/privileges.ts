// ServerKit steps 4 and 8: refuse to keep running as root unless told to; drop to uid/gid after
// the modules bound their sockets.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { HostOptions } from '../config/host-options.js';
import { HostError } from '../errors.js';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Running as root is fine when a uid switch follows, or when executes_as_root says so. */
export function checkRoot(o: HostOptions): void {
  if (isRoot() && !o.executes_as_root && o.uid === undefined) {
    throw new HostError(
      'ROOT_REFUSED',
      'refusing to run as root: set uid (and gid) in c11n to switch users after binding, ' +
        'or executes_as_root = true to really run as root',
    );
  }
}

const id = (v: string): string | number => (/^\d+$/.test(v) ? Number(v) : v);

/** The user's name and primary group from /etc/passwd (by name or number), when listed there. */
function passwdEntry(user: string): { gid: number } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && (f[0] === user || f[2] === user)) return { gid: Number(f[3]) };
    }
  } catch {
    // no /etc/passwd: nothing to look up
  }
  return undefined;
}

/** Group first (only root may change it), then user. Without gid, the user's primary group. */
export function dropPrivileges(o: HostOptions, log: Logger): void {
  if (o.uid === undefined && o.gid === undefined) return;
  try {
    if (o.gid !== undefined) {
      const gid = id(o.gid);
      if (isRoot()) process.setgroups?.([gid]);
      process.setgid?.(gid);
    } else if (o.uid !== undefined && isRoot()) {
      const entry = passwdEntry(o.uid);
      if (entry) {
        process.setgroups?.([entry.gid]);
        process.setgid?.(entry.gid);
      } else {
        log.warn(
          { uid: o.uid },
          'uid is not in /etc/passwd and gid is not set: the process keeps root group rights',
        );
      }
    }
    if (o.uid !== undefined) process.setuid?.(id(o.uid));
  } catch (e) {
    throw new HostError(
      'PRIVILEGES',
      `cannot switch to uid=${o.uid ?? '-'} gid=${o.gid ?? '-'}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  log.info({ uid: process.getuid?.(), gid: process.getgid?.() }, 'switched user');
}
