// The protocol engine's own worker task: LOGIN-DELAY across every machine that shares the Maildir.
// The time of the last login is the mtime of a small file in the maildrop (set explicitly, so the
// file server's clock does not matter), checked and refreshed in one hand-off.
import { statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOGIN_STAMP_FILE = 'pop3.lastlogin';

export interface LoginStampInput {
  dir: string;
  delayMs: number;
  now: number;
}

/** ok: the login may proceed (and is recorded); otherwise how long is left. */
export type LoginStampOutput = { ok: true } | { ok: false; waitMs: number };

export function loginStamp({ dir, delayMs, now }: LoginStampInput): LoginStampOutput {
  const path = join(dir, LOGIN_STAMP_FILE);
  try {
    const since = now - statSync(path).mtimeMs;
    // A stamp from the future (clock change) does not lock anyone out for longer than the delay.
    if (since >= 0 && since < delayMs) return { ok: false, waitMs: delayMs - since };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const t = now / 1000;
  try {
    utimesSync(path, t, t);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    try {
      writeFileSync(path, '');
      utimesSync(path, t, t);
    } catch (e2) {
      // No maildrop directory: the store's open reports that; nothing to enforce here.
      if ((e2 as NodeJS.ErrnoException).code !== 'ENOENT') throw e2;
    }
  }
  return { ok: true };
}
