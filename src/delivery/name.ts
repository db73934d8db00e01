// Unique Maildir base names in r2d2's shape: at most 70 characters, the message's CRLF size in
// upper-case hex after a `Z` in the middle part, so POP3 reads STAT/LIST sizes from the name alone.
//   <secs>.M<usec>P<pid>Q<counter>R<random hex>Z<size hex>.<host>
// Unique across hosts (host part), processes (pid), fast repeats in one process (counter) and
// threads or pid reuse (random); link() refusing an existing name is the final guard.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** r2d2: the base name (before `:`) never exceeds this. */
export const MAX_BASE_NAME = 70;

let counter = 0;
let cachedHost: string | undefined;

/**
 * The host part as the Maildir spec asks: `/` as `\057`, `:` as `\072`; we also encode anything
 * outside 0x21-0x7E and `,` (Maildir++ `,S=` lives there) so the name is a valid POP3 UID.
 */
export function sanitizeHost(host: string): string {
  let out = '';
  for (const ch of host) {
    const c = ch.codePointAt(0)!;
    if (c > 0x20 && c < 0x7f && ch !== '/' && ch !== ':' && ch !== ',' && ch !== '\\') out += ch;
    else {
      // Code points above 0xff: encode their UTF-8 octets.
      for (const b of Buffer.from(ch, 'utf8')) out += `\\${b.toString(8).padStart(3, '0')}`;
    }
  }
  return out;
}

/** Cuts the host part to `max` characters without splitting a `\ooo` escape. */
function truncateHost(host: string, max: number): string {
  if (host.length <= max) return host;
  let cut = host.slice(0, Math.max(0, max));
  const esc = cut.lastIndexOf('\\');
  if (esc >= 0 && cut.length - esc < 4) cut = cut.slice(0, esc);
  return cut;
}

export interface NameParts {
  /** Epoch milliseconds with a fraction (performance clock), default now. */
  nowMs?: number;
  pid?: number;
  host?: string;
}

/** A fresh base name for a message of `crlfSize` octets (as POP3 RETR sends it before dot-stuffing). */
export function maildirName(crlfSize: number, parts: NameParts = {}): string {
  const now = parts.nowMs ?? performance.timeOrigin + performance.now();
  const secs = Math.floor(now / 1000);
  const usec = Math.floor((now - secs * 1000) * 1000);
  counter = (counter + 1) % 0x100000000;
  const rand = randomBytes(4).toString('hex');
  const head =
    `${secs}.M${usec}P${parts.pid ?? process.pid}Q${counter}R${rand}` +
    `Z${crlfSize.toString(16).toUpperCase()}`;
  cachedHost ??= sanitizeHost(hostname());
  const host = truncateHost(
    parts.host === undefined ? cachedHost : sanitizeHost(parts.host),
    MAX_BASE_NAME - head.length - 1,
  );
  return host === '' ? head : `${head}.${host}`;
}

/** The `Z<HEX>` size in a base name's middle part, or undefined (what the POP3 store reads). */
export function sizeFromName(name: string): number | undefined {
  const base = name.split(':', 1)[0];
  const middle = base.split('.')[1];
  const m = middle === undefined ? null : /Z([0-9A-F]+)(?:[^0-9A-F]|$)/.exec(middle);
  return m ? Number.parseInt(m[1], 16) : undefined;
}
