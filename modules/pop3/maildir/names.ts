// Maildir file names: base name (the UIDL), flags, and the size hints a name may carry.
// Names are handled as latin1 strings so any byte sequence a file name holds round-trips
// unchanged (see fsPath in files.ts).
import { createHash } from 'node:crypto';

/** The part before ':' (the info part `:2,FLAGS` is dropped); unchanged by flag renames. */
export function baseName(file: string): string {
  const colon = file.indexOf(':');
  return colon < 0 ? file : file.slice(0, colon);
}

const PLAIN_UID = /^[\x21-\x7e]{1,70}$/;

/** RFC 1939 §7: a unique-id is 1-70 characters in 0x21-0x7E. */
export function isPlainUid(s: string): boolean {
  return PLAIN_UID.test(s);
}

/**
 * The derived UID for a name that cannot be its own UIDL (too long, empty, spaces, 8-bit bytes):
 * `X` followed by the 40 hex digits of SHA-1 over the name's bytes. Stable across sessions and
 * hosts; 41 characters, so it can never be mistaken for the 1-70 character rule being bent.
 */
export function derivedUid(s: string): string {
  return 'X' + createHash('sha1').update(s, 'latin1').digest('hex');
}

/** UIDL of a message: its base name when that is a valid unique-id, else the derived UID. */
export function uidFor(base: string): string {
  return isPlainUid(base) ? base : derivedUid(base);
}

const R2D2_Z = /Z([0-9A-F]{1,12})(?![0-9A-F])/;
const MAILDIRPP_W = /,W=(\d{1,15})(?!\d)/;

/**
 * The CRLF size a name announces, or null: r2d2's `Z<HEX>` (upper-case hex) in the middle part
 * (`<time>.M<usec>P<pid>Z<HEX>.<host>`), else Maildir++/Courier/Dovecot `,W=<n>` (the virtual,
 * CRLF size). Maildir++ `,S=<n>` is the file size on disk, NOT the CRLF size an LF-stored file
 * has on the wire, so it is never used as the wire size.
 */
export function crlfSizeHint(base: string): number | null {
  const d1 = base.indexOf('.');
  if (d1 >= 0) {
    const d2 = base.indexOf('.', d1 + 1);
    const middle = base.slice(d1 + 1, d2 < 0 ? base.length : d2);
    const z = R2D2_Z.exec(middle);
    if (z) return Number.parseInt(z[1], 16);
  }
  const w = MAILDIRPP_W.exec(base);
  return w ? Number(w[1]) : null;
}

/** A CRLF size is never smaller than the LF file, nor more than twice it (every byte a LF). */
export function hintAgrees(hint: number, diskSize: number): boolean {
  return hint >= diskSize && hint <= 2 * diskSize;
}

/** The cur/ name of a new/ file: `:2,` appended unless the name already has an info part. */
export function curName(newFile: string): string {
  return newFile.includes(':') ? newFile : newFile + ':2,';
}

/** Delivery order for names seen the first time: the leading Unix time, then the name. */
export function compareNames(a: string, b: string): number {
  const ta = Number.parseInt(a, 10);
  const tb = Number.parseInt(b, 10);
  const na = Number.isNaN(ta) ? Number.POSITIVE_INFINITY : ta;
  const nb = Number.isNaN(tb) ? Number.POSITIVE_INFINITY : tb;
  if (na !== nb) return na < nb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
