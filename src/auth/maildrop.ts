// Where a looked-up maildrop may be: under maildir_root, by its path text (symlinks inside the root
// are trusted). Shared by the POP3 authenticator, the delivery lookup and `host adduser`.
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** The maildrop as an absolute path under root, or null when it escapes (or holds a NUL). */
export function underRoot(root: string, value: string): string | null {
  if (value.includes('\0')) return null;
  const base = resolve(root);
  const abs = resolve(base, value);
  const rel = relative(base, abs);
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) return null;
  return abs;
}
