// The mbox store's worker tasks: synchronous file work, one hand-off each.
// open: session lock, dotlock, scan, dotlock off (the file stays open for the session: reads see
// the snapshot's bytes even if another program replaces the file); read: one line-aligned chunk
// of wire bytes (after a small message, the read-ahead window too); readWindow: the next window
// alone; update: under the dotlock, shift the kept messages and anything appended since the
// snapshot down over the deleted ones, truncate; release: close and unlock; touch: keep the
// session lock fresh.
import {
  type BigIntStats,
  closeSync,
  constants as fsConstants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs';
import { errno, readAt } from '../maildir/files.js';
import type { LockOwner } from '../maildir/lock.js';
import {
  encode,
  finish,
  initialState,
  maxOutput,
  type WireOptions,
  type WireState,
} from '../maildir/wire.js';
import type { WindowOutput } from '../read-ahead.js';
import { ownCopy, transferred } from '../transfer.js';
import { dotlock, lockSession, touchSession, undotlock, unlockSession } from './locks.js';
import { type FromQuoting, MboxParser, unquote } from './parse.js';

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code}: ${err.message}` : String(e);
}

export interface LockTimes {
  /** Session lock: stale after this long without a refresh. */
  lockStaleMs: number;
  /** How long to wait for an MDA's dotlock. */
  dotlockWaitMs: number;
  /** A dotlock older than this is left over from a crash. */
  dotlockStaleMs: number;
}

export interface OpenInput extends LockTimes {
  path: string;
  owner: LockOwner;
  wire: WireOptions;
  quoting: FromQuoting;
  /** auto store: answer 'not-mbox' for a directory or a missing path instead of failing. */
  probe: boolean;
  /** The file as the store last listed it: when it still matches, nothing is read (store.ts). */
  known: FileStamp | null;
}

/** What tells an unchanged mbox: the same inode, size, mtime and ctime (ns). */
export interface FileStamp {
  ino: string;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

export type OpenOutput =
  | {
      ok: true;
      /** -1: no file (an empty maildrop, nothing locked). */
      fd: number;
      ino: string;
      /** File size scanned: later bytes were appended during the session. */
      snapshot: number;
      /** from, start, end per message. */
      offsets: Float64Array;
      sizes: Float64Array;
      /** Joined by '\n'. */
      uids: string;
      stamp: FileStamp | null;
      /** `known` still matched: offsets, sizes and uids are empty; use the listing you have. */
      unchanged: boolean;
      /** The file was last changed long enough before the scan to trust its stamp next time. */
      cacheable: boolean;
    }
  | { ok: false; reason: 'in-use' }
  | { ok: false; reason: 'not-mbox' }
  | { ok: false; reason: 'temporary'; detail: string };

const SCAN_CHUNK = 1 << 20;

/** Parse `fd` up to `size`, one chunk at a time; a line never splits between two parser calls. */
function scan(fd: number, size: number, parser: MboxParser): void {
  let buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(size, 1)));
  let pos = 0; // file offset of buf[0]
  let carry = 0;
  for (;;) {
    if (carry === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, carry);
      buf = bigger;
    }
    const want = Math.min(buf.length - carry, size - pos - carry);
    const n = want > 0 ? readSync(fd, buf, carry, want, pos + carry) : 0;
    const total = carry + n;
    const eof = n === 0 || pos + total >= size;
    let s = 0;
    for (;;) {
      const lf = buf.indexOf(10, s);
      if (lf < 0 || lf >= total) break;
      parser.line(buf, s, lf + 1, pos + s);
      s = lf + 1;
    }
    if (eof) {
      if (s < total) parser.line(buf, s, total, pos + s);
      return;
    }
    buf.copy(buf, 0, s, total);
    carry = total - s;
    pos += s;
  }
}

// A spool file that is a symbolic link (e.g. to /etc/shadow, planted in a world-writable spool
// directory) is refused, as Dovecot and procmail do.
const { O_RDWR, O_RDONLY, O_NOFOLLOW } = fsConstants;

function openRw(path: string): number {
  try {
    return openSync(path, O_RDWR | O_NOFOLLOW);
  } catch (e) {
    // Read-only access still serves RETR; QUIT with deletions then fails (reported to the client).
    if (errno(e) === 'EACCES' || errno(e) === 'EROFS') return openSync(path, O_RDONLY | O_NOFOLLOW);
    throw e;
  }
}

export function open(input: OpenInput): OpenOutput {
  const { path, owner } = input;
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      if (input.probe) return { ok: false, reason: 'not-mbox' };
      return { ok: false, reason: 'temporary', detail: `${path} is a directory, not an mbox file` };
    }
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') {
      if (input.probe) return { ok: false, reason: 'not-mbox' };
      // No spool file yet: an empty maildrop (popa3d and Dovecot do the same).
      return empty();
    }
    return { ok: false, reason: 'temporary', detail: `cannot stat ${path}: ${describe(e)}` };
  }
  try {
    if (lockSession(path, owner, input.lockStaleMs) === 'in-use') return { ok: false, reason: 'in-use' };
  } catch (e) {
    return { ok: false, reason: 'temporary', detail: `cannot lock ${path}: ${describe(e)}` };
  }
  let fd = -1;
  let dotlocked = false;
  try {
    if (input.known !== null) {
      // The cheap poll: an unchanged file needs no dotlock and no read.
      fd = openRw(path);
      const st = fstatSync(fd, { bigint: true });
      const stamp = stampOf(st);
      if (sameStamp(stamp, input.known)) {
        return {
          ok: true,
          fd,
          ino: stamp.ino,
          snapshot: stamp.size,
          offsets: new Float64Array(0),
          sizes: new Float64Array(0),
          uids: '',
          stamp,
          unchanged: true,
          cacheable: true,
        };
      }
      closeSync(fd);
      fd = -1;
    }
    if (dotlock(path, input.dotlockWaitMs, input.dotlockStaleMs) === 'busy') {
      unlockSession(path, owner);
      return { ok: false, reason: 'temporary', detail: `${path} stays locked by another program` };
    }
    dotlocked = true;
    fd = openRw(path);
    const big = fstatSync(fd, { bigint: true });
    const st = { size: Number(big.size), ino: big.ino };
    const parser = new MboxParser(input.wire, input.quoting);
    scan(fd, st.size, parser);
    const messages = parser.end(st.size);
    undotlock(path);
    dotlocked = false;
    if (parser.garbage) throw new Error(`${path} is not an mbox file (it does not begin with a From_ line)`);
    const n = messages.length;
    const offsets = new Float64Array(3 * n);
    const sizes = new Float64Array(n);
    const uids: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const m = messages[i];
      offsets[3 * i] = m.from;
      offsets[3 * i + 1] = m.start;
      offsets[3 * i + 2] = m.end;
      sizes[i] = m.size;
      uids[i] = m.uid;
    }
    return {
      ok: true,
      fd,
      ino: String(st.ino),
      snapshot: st.size,
      offsets,
      sizes,
      uids: uids.join('\n'),
      stamp: stampOf(big),
      unchanged: false,
      // A change within the last 2 s could be followed by another one with the same stamp on a
      // file system with coarse timestamps.
      cacheable: Date.now() - Number(big.mtimeNs / 1_000_000n) > 2000,
    };
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      if (dotlocked) undotlock(path);
      unlockSession(path, owner);
    } catch {
      // the open failed already; leftover locks go stale
    }
    return { ok: false, reason: 'temporary', detail: `cannot read ${path}: ${describe(e)}` };
  }
}

function empty(): OpenOutput {
  return {
    ok: true,
    fd: -1,
    ino: '',
    snapshot: 0,
    offsets: new Float64Array(0),
    sizes: new Float64Array(0),
    uids: '',
    stamp: null,
    unchanged: false,
    cacheable: false,
  };
}

function stampOf(st: BigIntStats): FileStamp {
  return {
    ino: String(st.ino),
    size: Number(st.size),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
  };
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

export interface ReadInput {
  fd: number;
  /** The message's From_ line offset: checked on the first chunk. */
  from: number;
  start: number;
  end: number;
  /** File offset of the next byte to read. */
  offset: number;
  atLineStart: boolean;
  state: WireState | null;
  lines: number | null;
  chunkSize: number;
  wire: WireOptions;
  quoting: FromQuoting;
  /**
   * RETR read-ahead: [from, start, end] of each following message. When the message itself is read
   * in one chunk, the whole of the next ones (in order, while they total at most `aheadBytes`
   * stored with it) are encoded too and returned after it, as for Maildir.
   */
  ahead?: number[];
  aheadBytes?: number;
}

export interface ReadOutput {
  buf: ArrayBuffer;
  length: number;
  offset: number;
  atLineStart: boolean;
  state: WireState;
  done: boolean;
  /** The bytes at the message's offset are no longer its From_ line (file rewritten in place). */
  changed?: boolean;
  /** Read-ahead: wire lengths of the following messages, packed in `buf` after `length`. */
  aheadLengths?: number[];
  /** ...and their sizes before dot-stuffing (what LIST says). */
  aheadSizes?: number[];
}

let inbuf = Buffer.allocUnsafeSlow(64 * 1024);

export function read(input: ReadInput): ReadOutput {
  const state = input.state ?? initialState();
  if (input.offset === input.start && input.start > input.from) {
    const head = Buffer.alloc(5);
    if (readAt(input.fd, head, 5, input.from) < 5 || head.toString('latin1') !== 'From ') {
      return {
        buf: new ArrayBuffer(0),
        length: 0,
        offset: input.offset,
        atLineStart: true,
        state,
        done: true,
        changed: true,
      };
    }
  }
  const want = Math.max(0, Math.min(input.chunkSize, input.end - input.offset));
  if (inbuf.length < want) inbuf = Buffer.allocUnsafeSlow(want);
  const got = want > 0 ? readAt(input.fd, inbuf, want, input.offset) : 0;
  let use = got;
  if (input.offset + got < input.end && got === want) {
    // Cut at the last line end so every line start in the chunk has its whole `>From ` prefix.
    const lf = inbuf.lastIndexOf(10, got - 1);
    if (lf >= 0) use = lf + 1;
  }
  const eof = input.offset + use >= input.end || got < want;
  const chunk = unquote(inbuf.subarray(0, use), input.atLineStart, input.quoting);
  // Read-ahead only after a whole message in one read, for RETR.
  const whole = eof && input.offset === input.start && input.lines === null;
  const ahead = whole && input.ahead !== undefined ? fitting(input.ahead, (input.aheadBytes ?? 0) - use) : 0;
  let room = maxOutput(chunk.length);
  for (let k = 0; k < ahead; k++) room += maxOutput(input.ahead![3 * k + 2] - input.ahead![3 * k + 1]);
  const out = Buffer.allocUnsafeSlow(room);
  let len = encode(state, chunk, out, 0, input.lines, input.wire);
  if (eof) len = finish(state, out, len, input.wire);
  const result: ReadOutput = {
    buf: out.buffer as ArrayBuffer,
    length: len,
    offset: input.offset + use,
    atLineStart: use > 0 ? inbuf[use - 1] === 10 : input.atLineStart,
    state,
    done: eof || state.done,
  };
  if (ahead > 0) {
    result.aheadLengths = [];
    result.aheadSizes = [];
    const end = appendWindow(input, input.ahead!, ahead, out, len, result.aheadLengths, result.aheadSizes);
    // What the event loop keeps is what the window holds, not the worst case it was sized for.
    result.buf = ownCopy(out, end);
  }
  return transferred(result);
}

/** How many of the messages ([from, start, end] each) fit, in order, in `budget` stored bytes. */
function fitting(ahead: readonly number[], budget: number): number {
  let n = 0;
  for (; 3 * n < ahead.length; n++) {
    const size = ahead[3 * n + 2] - ahead[3 * n + 1];
    if (size > budget) break;
    budget -= size;
  }
  return n;
}

/**
 * Encode the first `n` messages of `ahead` into `out` from `at`, read with one pread of their span.
 * Ends early at a message whose From_ line is not where the listing put it (the file was rewritten
 * in place): its own RETR then says so. Returns the end of what was written.
 */
function appendWindow(
  input: { fd: number; wire: WireOptions; quoting: FromQuoting },
  ahead: readonly number[],
  n: number,
  out: Buffer,
  at: number,
  lengths: number[],
  sizes: number[],
): number {
  const first = ahead[0];
  const span = ahead[3 * (n - 1) + 2] - first;
  const buf = Buffer.allocUnsafe(span);
  const got = readAt(input.fd, buf, span, first);
  for (let k = 0; k < n; k++) {
    const from = ahead[3 * k] - first;
    const start = ahead[3 * k + 1] - first;
    const end = ahead[3 * k + 2] - first;
    if (end > got || buf.toString('latin1', from, from + 5) !== 'From ') break;
    const st = initialState();
    const body = unquote(buf.subarray(start, end), true, input.quoting);
    const e = finish(st, out, encode(st, body, out, at, null, input.wire), input.wire);
    lengths.push(e - at);
    sizes.push(st.size);
    at = e;
  }
  return at;
}

export interface WindowInput {
  fd: number;
  /** [from, start, end] of each message to read, in order; the window ends before the first that does not fit. */
  ahead: number[];
  /** Stored bytes at most. */
  bytes: number;
  wire: WireOptions;
  quoting: FromQuoting;
}

/** RETR read-ahead on its own: the next window, read while the client is still taking the last one. */
export function readWindow(input: WindowInput): WindowOutput {
  const n = fitting(input.ahead, input.bytes);
  const result: WindowOutput = { buf: new ArrayBuffer(0), lengths: [], sizes: [] };
  if (n === 0) return result;
  let room = 0;
  for (let k = 0; k < n; k++) room += maxOutput(input.ahead[3 * k + 2] - input.ahead[3 * k + 1]);
  const out = Buffer.allocUnsafeSlow(room);
  const end = appendWindow(input, input.ahead, n, out, 0, result.lengths, result.sizes);
  result.buf = ownCopy(out, end);
  return transferred(result);
}

export interface SessionInput {
  path: string;
  fd: number;
  owner: LockOwner;
}

export interface UpdateInput extends SessionInput, LockTimes {
  ino: string;
  snapshot: number;
  /** From_ line offset of every message, in file order. */
  froms: number[];
  /** Indexes to remove, ascending. */
  deleted: number[];
}

export type UpdateOutput = { ok: true; appended: number } | { ok: false; detail: string };

const COPY_CHUNK = 1 << 20;

export function update(input: UpdateInput): UpdateOutput {
  try {
    if (input.deleted.length === 0 || input.fd < 0) return { ok: true, appended: 0 };
    return rewrite(input);
  } finally {
    release(input);
  }
}

function rewrite(input: UpdateInput): UpdateOutput {
  const { path, fd, froms, snapshot } = input;
  let locked: 'locked' | 'busy';
  try {
    locked = dotlock(path, input.dotlockWaitMs, input.dotlockStaleMs);
  } catch (e) {
    return { ok: false, detail: `cannot dotlock ${path}: ${describe(e)}` };
  }
  if (locked === 'busy') return { ok: false, detail: `${path} stays locked by another program` };
  try {
    // Only appends are expected while we were not holding the dotlock; anything else is refused.
    const now = fstatSync(fd);
    let onDisk: ReturnType<typeof statSync> | undefined;
    try {
      onDisk = statSync(path);
    } catch {
      onDisk = undefined;
    }
    if (onDisk === undefined || String(onDisk.ino) !== input.ino) {
      return { ok: false, detail: `${path} was replaced by another program during the session` };
    }
    if (now.size < snapshot) return { ok: false, detail: `${path} shrank during the session` };
    const head = Buffer.alloc(5);
    for (const at of froms) {
      if (readAt(fd, head, 5, at) < 5 || head.toString('latin1') !== 'From ') {
        return { ok: false, detail: `${path} was changed by another program during the session` };
      }
    }
    const dropped = new Set(input.deleted);
    const n = froms.length;
    const first = input.deleted[0];
    let w = froms[first];
    const buf = Buffer.allocUnsafe(COPY_CHUNK);
    const copy = (from: number, to: number) => {
      // w <= from: each chunk is read before anything at or after it is overwritten.
      let r = from;
      while (r < to) {
        const got = readAt(fd, buf, Math.min(COPY_CHUNK, to - r), r);
        if (got === 0) throw new Error(`short read at ${r} in ${path}`);
        let done = 0;
        while (done < got) done += writeSync(fd, buf, done, got - done, w + done);
        w += got;
        r += got;
      }
    };
    for (let i = first; i < n; i++) {
      if (dropped.has(i)) continue;
      copy(froms[i], i + 1 < n ? froms[i + 1] : snapshot);
    }
    // Mail delivered during the session (under the MDA's dotlock, after our snapshot) is kept.
    // An MDA that locks with fcntl only (no dotlock) may still append while we copy: follow the
    // end of the file until it stops growing, so the window before the truncate is microseconds.
    let copied = snapshot;
    for (let size = now.size; size > copied; size = fstatSync(fd).size) {
      copy(copied, size);
      copied = size;
    }
    ftruncateSync(fd, w);
    fsyncSync(fd);
    return { ok: true, appended: copied - snapshot };
  } catch (e) {
    return { ok: false, detail: `rewrite of ${path} failed: ${describe(e)}` };
  } finally {
    try {
      undotlock(path);
    } catch {
      // goes stale
    }
  }
}

export function release(input: SessionInput): boolean {
  if (input.fd < 0) return false;
  try {
    closeSync(input.fd);
  } catch {
    // already closed
  }
  return unlockSession(input.path, input.owner);
}

export function touch(input: SessionInput): boolean {
  if (input.fd < 0) return true;
  return touchSession(input.path, input.owner);
}
