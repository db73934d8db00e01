// nupop's cache: one small file per maildrop holding the listing and the mtimes of new/ and cur/
// when it was built. When both mtimes are unchanged the listing is read from it: an unchanged
// maildrop costs two stats and one small read.
//
// Text, latin1 (names are byte strings):
//   pop3cache1 <new/ mtime ns> <cur/ mtime ns> <built at, epoch ms> <options key> <count>
//   <wire size> <disk size> <uid> <name relative to the Maildir>      (count lines)
import type { Listing } from './listing.js';
import type { WireOptions } from './wire.js';

export const CACHE_FILE = 'pop3.cache';
const MAGIC = 'pop3cache1';

/**
 * A directory mtime is only proof of "no change" once it is older than this when we look: on a
 * file system with coarse timestamps (1 s on ext3 and some NFS servers, 2 s on FAT) a change in
 * the same tick as our scan would leave the mtime unchanged.
 */
export const TRUST_MARGIN_MS = 2000;

export interface CacheRecord {
  newMtimeNs: bigint;
  curMtimeNs: bigint;
  builtAtMs: number;
  /** The wire options the sizes were computed with. */
  optsKey: string;
  listing: Listing;
}

export function optionsKey(o: WireOptions): string {
  return (o.stripNul ? 'n' : '-') + (o.ensureHeaderEnd ? 'h' : '-');
}

/** Unchanged directories whose mtimes were already old when the cache was built. */
export function cacheValid(
  rec: CacheRecord,
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
  return newestMs < rec.builtAtMs - TRUST_MARGIN_MS;
}

export function formatCache(rec: CacheRecord): string {
  const l = rec.listing;
  const n = l.names.length;
  const parts: string[] = new Array(n + 1);
  parts[0] = `${MAGIC} ${rec.newMtimeNs} ${rec.curMtimeNs} ${rec.builtAtMs} ${rec.optsKey} ${n}\n`;
  for (let i = 0; i < n; i++) parts[i + 1] = `${l.sizes[i]} ${l.disks[i]} ${l.uids[i]} ${l.names[i]}\n`;
  return parts.join('');
}

/** null when the text is not a complete cache file of this version. */
export function parseCache(text: string): CacheRecord | null {
  const nl = text.indexOf('\n');
  if (nl < 0) return null;
  const head = text.slice(0, nl).split(' ');
  if (head.length !== 6 || head[0] !== MAGIC) return null;
  const count = Number(head[5]);
  let newMtimeNs: bigint;
  let curMtimeNs: bigint;
  try {
    newMtimeNs = BigInt(head[1]);
    curMtimeNs = BigInt(head[2]);
  } catch {
    return null;
  }
  const builtAtMs = Number(head[3]);
  if (!Number.isSafeInteger(count) || count < 0 || !Number.isFinite(builtAtMs)) return null;
  const names: string[] = new Array(count);
  const uids: string[] = new Array(count);
  const sizes: number[] = new Array(count);
  const disks: number[] = new Array(count);
  let pos = nl + 1;
  for (let i = 0; i < count; i++) {
    const end = text.indexOf('\n', pos);
    const s1 = text.indexOf(' ', pos);
    const s2 = s1 < 0 ? -1 : text.indexOf(' ', s1 + 1);
    const s3 = s2 < 0 ? -1 : text.indexOf(' ', s2 + 1);
    if (end < 0 || s3 < 0 || s3 >= end) return null;
    sizes[i] = Number(text.slice(pos, s1));
    disks[i] = Number(text.slice(s1 + 1, s2));
    uids[i] = text.slice(s2 + 1, s3);
    names[i] = text.slice(s3 + 1, end);
    if (!(sizes[i] >= 0) || !(disks[i] >= 0)) return null;
    pos = end + 1;
  }
  if (pos !== text.length) return null;
  return { newMtimeNs, curMtimeNs, builtAtMs, optsKey: head[4], listing: { names, uids, sizes, disks } };
}
