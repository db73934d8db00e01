// Listing a maildrop (runs in a worker): from the cache file when new/ and cur/ are unchanged,
// else move new/ to cur/ and rescan incrementally: readdir, reuse cached entries by name (or by
// base name for a file whose flags another program changed), measure only names not seen before.
// Cost: linear in messages on the first open, in new messages after that.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  lstatSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import {
  CACHE_FILE,
  type CacheRecord,
  cacheValid,
  formatCache,
  optionsKey,
  parseCache,
  sizesOf,
  toListing,
  toRecord,
  trusted,
} from './cache.js';
import { errno, fileSize, fsPath, listDir, openMessage, readAt, statSubdir } from './files.js';
import { emptyListing, type Listing, push } from './listing.js';
import { baseName, compareNames, crlfSizeHint, curName, derivedUid, hintAgrees, uidFor } from './names.js';
import { encode, finish, initialState, type WireOptions } from './wire.js';

export interface ScanCounters {
  /** The listing came from the cache file: no readdir, no per-message stat. */
  fromCache: boolean;
  /** Names returned by readdir (new/ and cur/). */
  scanned: number;
  /** Message files opened to learn their size. */
  measured: number;
  /** ...of which sized by a name hint (Z<HEX> or ,W=) checked against the file size. */
  hinted: number;
  /** Moved from new/ to cur/. */
  moved: number;
  /** Entries reused from the cache (by name or, after a rename, by base name). */
  reused: number;
  cacheWritten: boolean;
}

export interface ScanResult {
  /** Names relative to the Maildir joined by '\n' (a name never holds one), UIDs likewise. */
  names: string;
  uids: string;
  sizes: Float64Array;
  counters: ScanCounters;
  /** The mtimes in the cache file, when it now holds exactly this listing (else null). */
  stamps: { newMtimeNs: bigint; curMtimeNs: bigint } | null;
}

let scratch = Buffer.allocUnsafeSlow(256 * 1024);

/** The cache file, or null when missing or unreadable as a cache. */
export function loadCache(dir: string): CacheRecord | null {
  let text: string;
  try {
    text = readFileSync(`${dir}/${CACHE_FILE}`, 'latin1');
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  }
  return parseCache(text);
}

/** Write tmp + rename so a reader never sees half a cache. A failure only costs the next open. */
export function writeCache(dir: string, rec: CacheRecord): boolean {
  const tmp = `${dir}/${CACHE_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, formatCache(rec), { encoding: 'latin1', mode: 0o600 });
    renameSync(tmp, `${dir}/${CACHE_FILE}`);
    return true;
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    return false;
  }
}

function lineCount(s: string): number {
  if (s.length === 0) return 0;
  let n = 1;
  for (let p = s.indexOf('\n'); p >= 0; p = s.indexOf('\n', p + 1)) n++;
  return n;
}

export function listMaildrop(dir: string, opts: WireOptions): ScanResult {
  const counters: ScanCounters = {
    fromCache: false,
    scanned: 0,
    measured: 0,
    hinted: 0,
    moved: 0,
    reused: 0,
    cacheWritten: false,
  };
  const key = optionsKey(opts);
  // Taken before the stats whose mtimes the cache will vouch for (see cache.ts, trusted()).
  const builtAtMs = Date.now();
  const stNew = statSubdir(dir, 'new');
  const stCur = statSubdir(dir, 'cur');
  const old = loadCache(dir);
  if (old && cacheValid(old, stNew.mtimeNs, stCur.mtimeNs, key)) {
    const sizes = sizesOf(old);
    if (sizes && lineCount(old.names) === old.count && lineCount(old.uids) === old.count) {
      counters.fromCache = true;
      return { names: old.names, uids: old.uids, sizes, counters, stamps: old };
    }
  }

  // new/ -> cur/. The mtime recorded for new/ is from a stat taken BEFORE the readdir that found
  // it empty, so a delivery racing with us always changes it and is seen by the next open.
  const leftInNew: string[] = [];
  const tried = new Set<string>();
  let newMtimeNs = stNew.mtimeNs;
  for (let round = 0; round < 4; round++) {
    const st = round === 0 ? stNew : statSubdir(dir, 'new');
    const names = listDir(`${dir}/new`);
    counters.scanned += names.length;
    const pending = names.filter((n) => !tried.has(n));
    newMtimeNs = st.mtimeNs;
    if (pending.length === 0) break;
    for (const f of pending) {
      tried.add(f);
      const r = moveToCur(dir, f);
      if (r === 'moved') counters.moved++;
      else if (r === 'kept') leftInNew.push(f);
    }
    // After the last round the recorded mtime predates our own renames: the next open rescans.
    if (round === 3) newMtimeNs = -1n;
  }

  // Same rule for cur/: the recorded stat precedes its readdir (and follows our own renames).
  const curMtimeNs = counters.moved === 0 ? stCur.mtimeNs : statSubdir(dir, 'cur').mtimeNs;
  const curFiles = listDir(`${dir}/cur`);
  counters.scanned += curFiles.length;

  const prev = old && old.optsKey === key ? safeListing(old) : emptyListing();
  const n = prev.names.length;
  // Cached cur/ entries by file name (no 'cur/' prefix: readdir's strings are looked up as they are).
  const oldCur = new Map<string, number>();
  const oldNew = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const name = prev.names[i];
    if (name.startsWith('cur/')) oldCur.set(name.slice(4), i);
    else oldNew.set(name.slice(4), i);
  }
  const kept: (string | undefined)[] = new Array(n);
  let keptCount = 0;
  const fresh: string[] = [];
  for (const f of curFiles) {
    const i = oldCur.get(f);
    if (i !== undefined && kept[i] === undefined) {
      kept[i] = prev.names[i];
      keptCount++;
    } else {
      fresh.push(`cur/${f}`);
    }
  }
  for (const f of leftInNew) {
    const i = oldNew.get(f);
    if (i !== undefined && kept[i] === undefined) {
      kept[i] = prev.names[i];
      keptCount++;
    } else {
      fresh.push(`new/${f}`);
    }
  }
  const changed = !old || old.optsKey !== key || keptCount !== n || fresh.length > 0;

  // A cached entry whose name is gone may have been renamed (flags changed by another program):
  // same base name and same size on disk.
  if (fresh.length > 0 && keptCount < n) {
    const byBase = new Map<string, number>();
    for (let j = 0; j < fresh.length; j++) byBase.set(baseName(fresh[j].slice(4)), j);
    for (let i = 0; i < n; i++) {
      if (kept[i] !== undefined) continue;
      const b = baseName(prev.names[i].slice(4));
      const j = byBase.get(b);
      if (j === undefined || fileSize(fsPath(dir, fresh[j])) !== prev.disks[i]) continue;
      byBase.delete(b);
      kept[i] = fresh[j];
      fresh[j] = '';
    }
  }

  let listing = prev;
  if (changed) {
    listing = emptyListing();
    for (let i = 0; i < n; i++) {
      const name = kept[i];
      if (name !== undefined) push(listing, name, prev.uids[i], prev.sizes[i], prev.disks[i]);
    }
  }
  counters.reused = listing.names.length;
  const newNames = fresh.filter((f) => f !== '');
  if (newNames.length > 0) {
    const uids = new Set<string>(listing.uids);
    // Delivery order; for one base name in both, cur/ first (it keeps the plain UID).
    newNames.sort((a, b) => compareNames(baseName(a.slice(4)), baseName(b.slice(4))) || (a < b ? -1 : 1));
    for (const name of newNames) {
      const base = baseName(name.slice(4));
      const m = measureFile(fsPath(dir, name), crlfSizeHint(base), opts, counters);
      if (m === null) continue;
      let uid = uidFor(base);
      if (uids.has(uid)) uid = derivedUid(name.slice(4)); // two files with one base name
      uids.add(uid);
      push(listing, name, uid, m.size, m.disk);
    }
  }

  const stamps0 = { newMtimeNs, curMtimeNs, builtAtMs, optsKey: key };
  // Unchanged listing: keep the cached columns as they are (no join of 100,000 names).
  const rec: CacheRecord = !changed && old ? { ...old, ...stamps0 } : toRecord(stamps0, listing);
  const write =
    changed ||
    !old ||
    old.newMtimeNs !== newMtimeNs ||
    old.curMtimeNs !== curMtimeNs ||
    (!trusted(old) && trusted(rec));
  // stamps: the cache file now holds exactly this listing (unchanged, or just written).
  let stamps: ScanResult['stamps'] = null;
  if (newMtimeNs >= 0n) {
    if (write) counters.cacheWritten = writeCache(dir, rec);
    if (!write || counters.cacheWritten) stamps = rec;
  }
  return { names: rec.names, uids: rec.uids, sizes: Float64Array.from(listing.sizes), counters, stamps };
}

/** The cached listing, or an empty one when its columns disagree (then everything is measured). */
function safeListing(rec: CacheRecord): Listing {
  const l = toListing(rec);
  const n = rec.count;
  const ok =
    l.names.length === n &&
    l.uids.length === n &&
    l.sizes.length === n &&
    l.disks.length === n &&
    l.sizes.every((x) => x >= 0) &&
    l.disks.every((x) => x >= 0);
  return ok ? l : emptyListing();
}

/**
 * new/<f> -> cur/<f>:2, by link + unlink, which unlike rename never replaces an existing file.
 * 'kept': it stays in new/ (a different file already has that cur/ name); 'gone': vanished.
 */
function moveToCur(dir: string, f: string): 'moved' | 'kept' | 'gone' {
  const src = fsPath(dir, `new/${f}`);
  const dst = fsPath(dir, `cur/${curName(f)}`);
  try {
    linkSync(src, dst);
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT') return 'gone';
    if (code === 'EEXIST') {
      // Linked by an earlier open that could not unlink: same inode means it is already moved.
      const a = statSync(src, { throwIfNoEntry: false });
      const b = statSync(dst, { throwIfNoEntry: false });
      if (!a) return 'gone';
      if (!b || a.ino !== b.ino || a.dev !== b.dev) return 'kept';
    } else if (
      code === 'EPERM' ||
      code === 'ENOTSUP' ||
      code === 'EOPNOTSUPP' ||
      code === 'ENOSYS' ||
      code === 'EXDEV' // AFS: no hard links across directories
    ) {
      // No hard links here (or not a regular file): rename, but never over an existing file.
      const st = lstatSync(src, { throwIfNoEntry: false });
      if (!st) return 'gone';
      if (!st.isFile() || statSync(dst, { throwIfNoEntry: false })) return 'kept';
      renameSync(src, dst);
      return 'moved';
    } else {
      return 'kept';
    }
  }
  try {
    unlinkSync(src);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }
  return 'moved';
}

/**
 * The wire size of one message file. A size hint in the name is trusted when it agrees with the
 * file size (then only the last byte, and with ensureHeaderEnd the header, is read); otherwise,
 * or with stripNul (the NUL count is not in any hint), the file is read once and measured.
 */
function measureFile(
  path: string | Buffer,
  hint: number | null,
  opts: WireOptions,
  counters: ScanCounters,
): { size: number; disk: number } | null {
  const f = openMessage(path);
  if (f === null) return null;
  try {
    if (!f.isFile) return null;
    counters.measured++;
    const disk = f.size;
    if (disk === 0) return { size: 0, disk };
    if (hint !== null && !opts.stripNul && hintAgrees(hint, disk)) {
      counters.hinted++;
      readAt(f.fd, scratch, 1, disk - 1);
      let size = hint + (scratch[0] === 10 ? 0 : 2);
      if (opts.ensureHeaderEnd && !hasHeaderEnd(f.fd, disk, opts)) size += 2;
      return { size, disk };
    }
    if (scratch.length < Math.min(disk, 4 << 20)) scratch = Buffer.allocUnsafeSlow(Math.min(disk, 4 << 20));
    const st = initialState();
    for (let pos = 0; pos < disk; ) {
      const n = readAt(f.fd, scratch, Math.min(scratch.length, disk - pos), pos);
      if (n === 0) break;
      encode(st, scratch.subarray(0, n), null, 0, null, opts);
      pos += n;
    }
    finish(st, null, 0, opts);
    return { size: st.size, disk };
  } finally {
    closeSync(f.fd);
  }
}

/** Whether a blank line ends the header (stops reading as soon as it is found). */
function hasHeaderEnd(fd: number, disk: number, opts: WireOptions): boolean {
  const st = initialState();
  for (let pos = 0; pos < disk && !st.done; ) {
    const n = readAt(fd, scratch, Math.min(scratch.length, disk - pos), pos);
    if (n === 0) break;
    encode(st, scratch.subarray(0, n), null, 0, 0, opts);
    pos += n;
  }
  return st.inBody;
}
