// RFC 2449 CAPA answers. The few variants are built once per option set and connection facts, so
// CAPA costs a lookup, not string work.
import type { Pop3Options } from './options.js';

export interface CapaFacts {
  /** USER/PASS and SASL PLAIN allowed on this connection now. */
  plaintext: boolean;
  /** STLS can be offered (certificate configured, connection not yet secure, AUTHORIZATION state). */
  stls: boolean;
  transaction: boolean;
}

export const IMPLEMENTATION = 'mailhost-pop3';

export function buildCapa(o: Pop3Options, f: CapaFacts): string {
  const lines = ['+OK capability list follows', 'TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
  if (!f.transaction) {
    if (f.plaintext) lines.push('USER', 'SASL PLAIN');
    if (f.stls) lines.push('STLS');
  }
  const delaySec = Math.ceil(o.login_delay / 1000);
  // RFC 2449 §6.5/6.7: the same value in both states (no per-user values here).
  if (delaySec > 0) lines.push(`LOGIN-DELAY ${delaySec}`);
  lines.push(`EXPIRE ${expireValue(o.expire)}`);
  lines.push(`IMPLEMENTATION ${IMPLEMENTATION}`, '.', '');
  return lines.join('\r\n');
}

/** NEVER or a non-negative day count; anything else falls back to NEVER. */
export function expireValue(v: string): string {
  const t = v.trim().toUpperCase();
  return t === 'NEVER' || /^\d{1,5}$/.test(t) ? t : 'NEVER';
}

/** Caches the 8 possible CAPA answers for one options object. */
export class CapaCache {
  private opts: Pop3Options | undefined;
  private readonly cache = new Map<number, string>();

  get(o: Pop3Options, f: CapaFacts): string {
    if (o !== this.opts) {
      this.opts = o;
      this.cache.clear();
    }
    const key = (f.plaintext ? 1 : 0) | (f.stls ? 2 : 0) | (f.transaction ? 4 : 0);
    let s = this.cache.get(key);
    if (s === undefined) {
      s = buildCapa(o, f);
      this.cache.set(key, s);
    }
    return s;
  }
}
