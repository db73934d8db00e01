// Small synchronous file helpers shared by the worker tasks.

import type { BigIntStats } from 'node:fs';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { baseName } from './names.js';

/** A path for a latin1 file name: a Buffer when the name has 8-bit bytes, so they round-trip. */
export function fsPath(dir: string, rel: string): string | Buffer {
  if (/^[\x00-\x7f]*$/.test(rel)) return `${dir}/${rel}`;
  return Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(rel, 'latin1')]);
}

export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** Message file names in a Maildir subdirectory: dot files and names with a newline are skipped. */
export function listDir(dir: string): string[] {
  const all = readdirSync(dir, { encoding: 'latin1' });
  let ok = true;
  for (const n of all) {
    if (n.charCodeAt(0) === 46 || n.includes('\n')) {
      ok = false;
      break;
    }
  }
  return ok ? all : all.filter((n) => n.charCodeAt(0) !== 46 && !n.includes('\n'));
}

/** stat of new/ or cur/, creating cur/, new/ and tmp/ when the maildrop lacks them. */
export function statSubdir(dir: string, sub: 'new' | 'cur'): BigIntStats {
  try {
    return statSync(`${dir}/${sub}`, { bigint: true });
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
    // The maildrop exists (we hold its lock); a missing subdirectory is an empty one.
    for (const s of ['cur', 'new', 'tmp']) mkdirSync(`${dir}/${s}`, { recursive: true, mode: 0o700 });
    return statSync(`${dir}/${sub}`, { bigint: true });
  }
}

/** Read up to `len` bytes at `pos` (fewer only at end of file). */
export function readAt(fd: number, buf: Buffer, len: number, pos: number): number {
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Size of a regular file, or null when it is gone or not a regular file. */
export function fileSize(path: string | Buffer): number | null {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : null;
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  }
}

/** Open a message file for reading; null when it is gone. */
export function openMessage(path: string | Buffer): { fd: number; size: number; isFile: boolean } | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  }
  try {
    const st = fstatSync(fd);
    return { fd, size: st.size, isFile: st.isFile() };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * A message renamed by another program (flags changed, or moved from new/ to cur/) is found again
 * by its base name. Returns the new name relative to the Maildir, or null.
 */
export function findByBase(dir: string, name: string): string | null {
  const base = baseName(name.slice(4));
  for (const sub of ['cur', 'new']) {
    let files: string[];
    try {
      files = listDir(`${dir}/${sub}`);
    } catch (e) {
      if (errno(e) === 'ENOENT') continue;
      throw e;
    }
    for (const f of files) if (baseName(f) === base) return `${sub}/${f}`;
  }
  return null;
}
