// nupop's cache: one small file per maildrop holding the listing and the mtimes of new/ and cur/
// when it was built. When both mtimes are unchanged the listing is read from it: an unchanged
// maildrop costs two stats and one small read.
//
// Text, latin1 (names are byte strings), in columns so a cache hit needs no per-message parsing
// (names and UIDs are passed on as the blocks they are stored as):
//   pop3cache2 <new/ mtime ns> <cur/ mtime ns> <built at, epoch ms> <options key> <count>
//     <chars of the names block> <chars of the UIDs block>\n
//   <names relative to the Maildir, joined by \n>\n
//   <UIDs joined by \n>\n
//   <wire sizes joined by ' '>\n
//   <sizes on disk joined by ' '>\n
import { emptyListing, type Listing } from './listing.js';
import type { WireOptions } from './wire.js';

export const CACHE_FILE = 'pop3.cache';
const MAGIC = 'pop3cache2';

/**
 * A directory mtime is only proof of "no change" once it is older than this when we look: a
 * change in the same timestamp tick as our scan would leave the mtime unchanged. File systems with
 * whole-second timestamps (ext3, some NFS servers; FAT has 2 s) need 2 s; with sub-second
 * timestamps the tick is the kernel's coarse clock (a few ms), so 100 ms is ample.
 */
export const TRUST_MARGIN_MS = 2000;
export const FINE_TRUST_MARGIN_MS = 100;

export interface CacheStamps {
  newMtimeNs: bigint;
  curMtimeNs: bigint;
  builtAtMs: number;
  /** The wire options the sizes were computed with. */
  optsKey: string;
}

/** A cache file's content, still in its columns. */
export interface CacheRecord extends CacheStamps {
  count: number;
  names: string;
  uids: string;
  sizes: string;
  disks: string;
}

export function optionsKey(o: WireOptions): string {
  return (o.stripNul ? 'n' : '-') + (o.ensureHeaderEnd ? 'h' : '-');
}

/** Unchanged directories whose mtimes were already old when the cache was built. */
export function cacheValid(
  rec: CacheStamps,
  newMtimeNs: bigint,
  curMtimeNs: bigint,
  optsKey: string,
): boolean {
  return (
    rec.optsKey === optsKey && rec.newMtimeNs === newMtimeNs && rec.curMtimeNs === curMtimeNs && trusted(rec)
  );
}

export function trusted(rec: { newMtimeNs: bigint; curMtimeNs: bigint; builtAtMs: number }): boolean {
  const newestMs = Math.max(Number(rec.newMtimeNs / 1_000_000n), Number(rec.curMtimeNs / 1_000_000n));
  // A whole-second mtime means (or may mean) a whole-second file system.
  const coarse = rec.newMtimeNs % 1_000_000_000n === 0n || rec.curMtimeNs % 1_000_000_000n === 0n;
  return newestMs < rec.builtAtMs - (coarse ? TRUST_MARGIN_MS : FINE_TRUST_MARGIN_MS);
}

export function toRecord(stamps: CacheStamps, l: Listing): CacheRecord {
  return {
    ...stamps,
    count: l.names.length,
    names: l.names.join('\n'),
    uids: l.uids.join('\n'),
    sizes: l.sizes.join(' '),
    disks: l.disks.join(' '),
  };
}

export function toListing(rec: CacheRecord): Listing {
  if (rec.count === 0) return emptyListing();
  return {
    names: rec.names.split('\n'),
    uids: rec.uids.split('\n'),
    sizes: rec.sizes.split(' ').map(Number),
    disks: rec.disks.split(' ').map(Number),
  };
}

export function formatCache(rec: CacheRecord): string {
  const head = [MAGIC, rec.newMtimeNs, rec.curMtimeNs, rec.builtAtMs, rec.optsKey, rec.count];
  return `${head.join(' ')} ${rec.names.length} ${rec.uids.length}\n${rec.names}\n${rec.uids}\n${rec.sizes}\n${rec.disks}\n`;
}

/** null when the text is not a complete cache file of this version. */
export function parseCache(text: string): CacheRecord | null {
  const nl = text.indexOf('\n');
  if (nl < 0) return null;
  const head = text.slice(0, nl).split(' ');
  if (head.length !== 8 || head[0] !== MAGIC) return null;
  const [count, builtAtMs, namesLen, uidsLen] = [head[5], head[3], head[6], head[7]].map(Number);
  if (![count, builtAtMs, namesLen, uidsLen].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  let newMtimeNs: bigint;
  let curMtimeNs: bigint;
  try {
    newMtimeNs = BigInt(head[1]);
    curMtimeNs = BigInt(head[2]);
  } catch {
    return null;
  }
  let p = nl + 1;
  const names = text.slice(p, p + namesLen);
  p += namesLen;
  if (text.charCodeAt(p) !== 10) return null;
  const uids = text.slice(p + 1, p + 1 + uidsLen);
  p += 1 + uidsLen;
  if (text.charCodeAt(p) !== 10) return null;
  const e1 = text.indexOf('\n', p + 1);
  const e2 = e1 < 0 ? -1 : text.indexOf('\n', e1 + 1);
  if (e2 !== text.length - 1) return null;
  const sizes = text.slice(p + 1, e1);
  const disks = text.slice(e1 + 1, e2);
  // Column lengths agree with the count (a cheap check; the count of names is checked on use).
  if (count === 0 ? sizes !== '' || disks !== '' || names !== '' : sizes === '' || disks === '') return null;
  return { newMtimeNs, curMtimeNs, builtAtMs, optsKey: head[4], count, names, uids, sizes, disks };
}

/** Wire sizes as numbers, or null when the column does not hold `count` of them. */
export function sizesOf(rec: CacheRecord): Float64Array | null {
  const out = new Float64Array(rec.count);
  if (rec.count === 0) return out;
  const s = rec.sizes;
  let i = 0;
  let n = 0;
  let digits = 0;
  for (let p = 0; p <= s.length; p++) {
    const c = p < s.length ? s.charCodeAt(p) : 32;
    if (c === 32) {
      if (digits === 0 || i >= rec.count) return null;
      out[i++] = n;
      n = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      n = n * 10 + (c - 48);
      digits++;
    } else {
      return null;
    }
  }
  return i === rec.count ? out : null;
}
