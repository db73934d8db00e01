// ServerKit steps 4 and 8: refuse to keep running as root unless told to; drop to uid/gid after
// the modules bound their sockets.
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

/** Group first (only root may change it), then user. */
export function dropPrivileges(o: HostOptions, log: Logger): void {
  if (o.uid === undefined && o.gid === undefined) return;
  try {
    if (o.gid !== undefined) {
      const gid = id(o.gid);
      if (isRoot()) process.setgroups?.([gid]);
      process.setgid?.(gid);
    } else if (isRoot()) {
      log.warn('uid is set without gid: the process keeps root group rights; set gid too');
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
