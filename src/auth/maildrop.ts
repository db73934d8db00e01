// Where a looked-up maildrop may be: under maildir_root, by its path text (symlinks inside the root
// are trusted). Shared by the POP3 authenticator, the delivery lookup and `host adduser`.
import { isAbsolute, resolve, sep } from 'node:path';

/** The last absolute root resolved: every login of a module asks with the same one. */
let lastRoot = '';
let lastBase = '';

/** The maildrop as an absolute path under root, or null when it escapes (or holds a NUL). */
export function underRoot(root: string, value: string): string | null {
  if (value.includes('\0')) return null;
  // A relative root depends on the working directory: resolved afresh each time.
  if (root !== lastRoot || !isAbsolute(root)) {
    lastBase = resolve(root);
    lastRoot = root;
  }
  const base = lastBase;
  const abs = resolve(base, value);
  // resolve() normalised both: under the root means equal to it or below it.
  if (abs === base || base === sep || abs.startsWith(base + sep)) return abs;
  return null;
}
