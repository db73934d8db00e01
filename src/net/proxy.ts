// A pure PROXY protocol v1/v2 header parser (haproxy's proxy-protocol.txt), fed the bytes read so far.
import { isIPv4, isIPv6 } from 'node:net';
import type { Endpoint } from '../api.js';

export type ProxyParse =
  /** Not enough bytes yet: call again with more. */
  | { state: 'more' }
  | { state: 'invalid'; reason: string }
  /**
   * A complete header of `consumed` octets. `source`/`destination` are null for v1 UNKNOWN and v2
   * LOCAL or non-TCP families: the proxy's own connection addresses stand.
   */
  | {
      state: 'done';
      version: 1 | 2;
      consumed: number;
      source: Endpoint | null;
      destination: Endpoint | null;
    };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX = 107; // including CRLF
const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
const MORE: ProxyParse = { state: 'more' };

export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (startsLike(buf, V2_SIG)) return buf.length < V2_SIG.length ? MORE : parseV2(buf);
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? MORE : parseV1(buf);
  return invalid('not a PROXY protocol header');
}

/** `buf` and `sig` agree on their common length. */
function startsLike(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.compare(sig, 0, n, 0, n) === 0;
}

function invalid(reason: string): ProxyParse {
  return { state: 'invalid', reason };
}

function parseV1(buf: Buffer): ProxyParse {
  const crlf = buf.indexOf('\r\n', 0, 'latin1');
  if (crlf < 0) return buf.length >= V1_MAX ? invalid('v1 header longer than 107 octets') : MORE;
  if (crlf + 2 > V1_MAX) return invalid('v1 header longer than 107 octets');
  const parts = buf.toString('latin1', 0, crlf).split(' ');
  const consumed = crlf + 2;
  if (parts[1] === 'UNKNOWN') return { state: 'done', version: 1, consumed, source: null, destination: null };
  if (parts.length !== 6) return invalid('v1 header needs 6 fields');
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const isIp = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null;
  if (isIp === null) return invalid(`v1 protocol "${proto}"`);
  if (!isIp(src) || !isIp(dst)) return invalid('v1 address does not match its protocol');
  const sp = port(sport);
  const dp = port(dport);
  if (sp < 0 || dp < 0) return invalid('v1 port out of range');
  return {
    state: 'done',
    version: 1,
    consumed,
    source: { address: src, port: sp },
    destination: { address: dst, port: dp },
  };
}

function port(s: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(s)) return -1;
  const n = Number(s);
  return n <= 65535 ? n : -1;
}

function parseV2(buf: Buffer): ProxyParse {
  if (buf.length < V2_FIXED) return MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return invalid('v2 version is not 2');
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid('v2 command is neither LOCAL nor PROXY');
  const famProto = buf[13]!;
  const len = buf.readUInt16BE(14);
  const consumed = V2_FIXED + len;
  if (buf.length < consumed) return MORE;
  const local: ProxyParse = { state: 'done', version: 2, consumed, source: null, destination: null };
  if (cmd === 0) return local; // LOCAL: the proxy's own health check
  const family = famProto >> 4;
  const stream = (famProto & 0x0f) === 1;
  if (family === 1 && stream) {
    if (len < 12) return invalid('v2 TCP4 block too short');
    const a = V2_FIXED;
    return {
      state: 'done',
      version: 2,
      consumed,
      source: { address: ipv4(buf, a), port: buf.readUInt16BE(a + 8) },
      destination: { address: ipv4(buf, a + 4), port: buf.readUInt16BE(a + 10) },
    };
  }
  if (family === 2 && stream) {
    if (len < 36) return invalid('v2 TCP6 block too short');
    const a = V2_FIXED;
    return {
      state: 'done',
      version: 2,
      consumed,
      source: { address: ipv6(buf, a), port: buf.readUInt16BE(a + 32) },
      destination: { address: ipv6(buf, a + 16), port: buf.readUInt16BE(a + 34) },
    };
  }
  // UNSPEC, UNIX or datagram: addresses we cannot use; the connection's own stand (spec 2.2).
  return local;
}

function ipv4(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** Compressed form, as node reports socket addresses, so per-IP keys agree. */
function ipv6(b: Buffer, o: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(o + 2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  }
  // Longest run (>= 2) of zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
