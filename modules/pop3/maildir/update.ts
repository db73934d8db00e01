// UPDATE state (runs in a worker): remove the marked messages (unlink, or move to the Maildir++
// trash folder), then rewrite the cache from the known result so the next open stays cheap.
import { closeSync, linkSync, mkdirSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { toListing, toRecord } from './cache.js';
import { errno, findByBase, fsPath, statSubdir } from './files.js';
import { emptyListing, push } from './listing.js';
import { curName } from './names.js';
import { loadCache, writeCache } from './scan.js';

export interface UpdateInput {
  /** The opened Maildir (the folder's directory for a folder session). */
  dir: string;
  /** Where the marked messages go in 'move' mode: the trash folder's directory. */
  trashDir: string | null;
  deleted: { name: string; size: number }[];
  /** The mtimes the cache file had after open (decimal ns), or null: do not rewrite it. */
  stamps: { newMtimeNs: string; curMtimeNs: string } | null;
}

export interface UpdateOutput {
  deleted: number;
  deletedBytes: number;
  failed: number;
  cacheWritten: boolean;
}

export function updateMaildrop(input: UpdateInput): UpdateOutput {
  const { dir, deleted: marked } = input;
  // QUIT with nothing marked (the common poll): nothing to do but unlock (done by the task).
  if (marked.length === 0) return { deleted: 0, deletedBytes: 0, failed: 0, cacheWritten: false };
  const trash = input.trashDir !== null && input.trashDir !== dir ? input.trashDir : null;
  if (trash !== null) ensureFolder(trash);
  // Only rewrite the cache when cur/ was not changed by anyone else during the session.
  const curBefore = input.stamps ? statSubdir(dir, 'cur').mtimeNs : -1n;
  const cacheUsable = input.stamps !== null && curBefore === BigInt(input.stamps.curMtimeNs);

  const out: UpdateOutput = { deleted: 0, deletedBytes: 0, failed: 0, cacheWritten: false };
  const removed = new Set<string>();
  for (const m of marked) {
    let r = removeOne(dir, m.name, trash);
    if (r === 'gone') {
      // Renamed by another program (flags changed) since the listing: find it by base name.
      const now = findByBase(dir, m.name);
      if (now !== null) r = removeOne(dir, now, trash);
    }
    if (r === 'failed') {
      out.failed++;
      continue;
    }
    // 'gone' too: the message is no longer in the maildrop, which is what DELE asked for.
    out.deleted++;
    out.deletedBytes += m.size;
    removed.add(m.name);
  }

  if (cacheUsable && input.stamps) {
    const rec = loadCache(dir);
    if (
      rec &&
      rec.newMtimeNs === BigInt(input.stamps.newMtimeNs) &&
      rec.curMtimeNs === BigInt(input.stamps.curMtimeNs)
    ) {
      const builtAtMs = Date.now();
      const curMtimeNs = removed.size > 0 ? statSubdir(dir, 'cur').mtimeNs : rec.curMtimeNs;
      const l = toListing(rec);
      const keep = emptyListing();
      for (let i = 0; i < l.names.length; i++) {
        if (!removed.has(l.names[i])) push(keep, l.names[i], l.uids[i], l.sizes[i], l.disks[i]);
      }
      const stamps = { ...rec, curMtimeNs, builtAtMs: removed.size > 0 ? builtAtMs : rec.builtAtMs };
      if (removed.size > 0) out.cacheWritten = writeCache(dir, toRecord(stamps, keep));
    }
  }
  return out;
}

function removeOne(dir: string, name: string, trash: string | null): 'ok' | 'gone' | 'failed' {
  const src = fsPath(dir, name);
  try {
    if (trash === null) {
      unlinkSync(src);
      return 'ok';
    }
    const file = name.startsWith('new/') ? curName(name.slice(4)) : name.slice(4);
    const dst = fsPath(trash, `cur/${file}`);
    // link + unlink: never replaces a message already in the trash under that name.
    try {
      linkSync(src, dst);
    } catch (e) {
      const code = errno(e);
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw e;
      if (statSync(dst, { throwIfNoEntry: false })) return 'failed';
      renameSync(src, dst); // no hard links on this file system
      return 'ok';
    }
    unlinkSync(src);
    return 'ok';
  } catch (e) {
    return errno(e) === 'ENOENT' && !statSync(src, { throwIfNoEntry: false }) ? 'gone' : 'failed';
  }
}

/** A Maildir++ folder: cur/ new/ tmp/ and the `maildirfolder` marker. */
function ensureFolder(folder: string): void {
  for (const s of ['cur', 'new', 'tmp']) mkdirSync(`${folder}/${s}`, { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(`${folder}/maildirfolder`, 'a', 0o600));
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw e;
  }
}
