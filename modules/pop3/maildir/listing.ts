// A maildrop listing in columns (no object per message: 100,000 messages stay cheap to keep,
// to pass between threads and to write to the cache file).

export interface Listing {
  /** Relative to the Maildir: `cur/<file>` (or `new/<file>` when it could not be moved). */
  names: string[];
  uids: string[];
  /** Wire size (CRLF, final CRLF, client workarounds). */
  sizes: number[];
  /** File size on disk, to recognise a renamed file as the same message. */
  disks: number[];
}

export function emptyListing(): Listing {
  return { names: [], uids: [], sizes: [], disks: [] };
}

export function push(l: Listing, name: string, uid: string, size: number, disk: number): void {
  l.names.push(name);
  l.uids.push(uid);
  l.sizes.push(size);
  l.disks.push(disk);
}

/** The file name without its `cur/` or `new/` directory. */
export function fileOf(name: string): string {
  return name.slice(4);
}
