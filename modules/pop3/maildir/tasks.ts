// The Maildir store's worker tasks: synchronous file system work, one hand-off each.
// open: lock + new/ -> cur/ + listing (cache or incremental rescan); read: one chunk of wire
// bytes (after a small message, the read-ahead window too); readWindow: the next window alone;
// update: remove marked messages, rewrite the cache, unlock; release: unlock; touch: refresh the
// lock's mtime during a long session.
import { closeSync } from 'node:fs';
import type { WindowOutput } from '../read-ahead.js';
import { ownCopy, transferred } from '../transfer.js';
import { errno, findByBase, fsPath, openMessage, readAt } from './files.js';
import { acquireLock, type LockOwner, releaseLock, touchLock } from './lock.js';
import { listMaildrop, type ScanCounters } from './scan.js';
import { type UpdateInput, type UpdateOutput, updateMaildrop } from './update.js';
import {
  encode,
  finish,
  initialState,
  inPlaceOffset,
  maxOutput,
  type WireOptions,
  type WireState,
} from './wire.js';

export interface OpenInput {
  dir: string;
  owner: LockOwner;
  lockStaleMs: number;
  wire: WireOptions;
}

export type OpenOutput =
  | {
      ok: true;
      /** Names relative to the Maildir, joined by '\n' (a name never holds one). */
      names: string;
      /** UIDs joined by '\n'. */
      uids: string;
      sizes: Float64Array;
      counters: ScanCounters;
      stamps: { newMtimeNs: string; curMtimeNs: string } | null;
    }
  | { ok: false; reason: 'in-use' }
  | { ok: false; reason: 'temporary'; detail: string };

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code}: ${err.message}` : String(e);
}

export function open(input: OpenInput): OpenOutput {
  const { dir, owner } = input;
  try {
    if (acquireLock(dir, owner, input.lockStaleMs) === 'in-use') return { ok: false, reason: 'in-use' };
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return { ok: false, reason: 'temporary', detail: `maildrop ${dir} does not exist` };
    }
    return { ok: false, reason: 'temporary', detail: `cannot lock maildrop ${dir}: ${describe(e)}` };
  }
  try {
    const { names, uids, sizes, counters, stamps } = listMaildrop(dir, input.wire);
    return {
      ok: true,
      names,
      uids,
      sizes,
      counters,
      stamps: stamps && { newMtimeNs: String(stamps.newMtimeNs), curMtimeNs: String(stamps.curMtimeNs) },
    };
  } catch (e) {
    try {
      releaseLock(dir, owner);
    } catch {
      // the open failed already; the lock goes stale if it cannot be removed
    }
    return { ok: false, reason: 'temporary', detail: `cannot list maildrop ${dir}: ${describe(e)}` };
  }
}

export interface ReadInput {
  dir: string;
  /** Relative to the Maildir, as listed. */
  name: string;
  offset: number;
  state: WireState | null;
  /** TOP n, or null for RETR. */
  lines: number | null;
  chunkSize: number;
  wire: WireOptions;
  /**
   * RETR read-ahead: the names of the messages that follow. When the message itself fits in one
   * read, the whole of the next ones (in order, while their files total at most `aheadBytes`) are
   * encoded too and returned after it: a client fetching one message after the other then costs
   * one hand-off per window instead of one per message.
   */
  ahead?: string[];
  aheadBytes?: number;
  /** A buffer the caller is done with (transferred): filled instead of a new one when it fits. */
  reuse?: ArrayBuffer;
}

export interface ReadOutput {
  /** Wire bytes in `buf[0, length)`; the ArrayBuffer is transferred, not copied. */
  buf: ArrayBuffer;
  length: number;
  offset: number;
  state: WireState;
  done: boolean;
  /** Set when the file was found under another name (flags changed by another program). */
  renamed?: string;
  /** The file is gone: nothing was read. */
  gone?: boolean;
  /**
   * `buf` is a whole chunk buffer of a long message, used by nothing else: once written, the event
   * loop may hand it to the next read as `reuse`.
   */
  chunk?: boolean;
  /** Read-ahead: wire lengths of the following messages, packed in `buf` after `length`. */
  aheadLengths?: number[];
  /** ...and their sizes before dot-stuffing (what LIST says). */
  aheadSizes?: number[];
}

/** Whole messages that fit, in order, in `budget` stored bytes: open descriptors and sizes. */
function openWindow(dir: string, names: readonly string[] | undefined, budget: number): OpenFile[] {
  const out: OpenFile[] = [];
  if (names === undefined) return out;
  for (const name of names) {
    // A renamed or vanished file ends the window: its own RETR finds it (or says it is gone).
    const f = openMessage(fsPath(dir, name));
    if (f === null) break;
    if (!f.isFile || f.size > budget) {
      closeSync(f.fd);
      break;
    }
    budget -= f.size;
    out.push({ fd: f.fd, size: f.size });
  }
  return out;
}

interface OpenFile {
  fd: number;
  size: number;
}

/**
 * Worker-local room for whole messages (and the read-ahead window after them): each is read into
 * it and encoded in place (wire.ts), then what leaves is an exact-size copy, so the read-ahead
 * window the event loop keeps costs what it holds, not twice that.
 */
let scratch = Buffer.allocUnsafeSlow(128 * 1024);

/** `scratch` with room for `bytes`, keeping its first `keep` bytes. */
function scratchFor(bytes: number, keep: number): Buffer {
  if (scratch.length < bytes) {
    const bigger = Buffer.allocUnsafeSlow(bytes);
    scratch.copy(bigger, 0, 0, keep);
    scratch = bigger;
  }
  return scratch;
}

/**
 * Encode whole files one after the other into `scratch` from `used` (closing them); their wire
 * lengths and sizes go to `lengths` and `sizes`. Returns the end of what was written.
 */
function appendWindow(
  files: OpenFile[],
  used: number,
  wire: WireOptions,
  lengths: number[],
  sizes: number[],
): number {
  try {
    let room = used;
    for (const f of files) room += maxOutput(f.size);
    const buf = scratchFor(room, used);
    for (const f of files) {
      const at = inPlaceOffset(used, f.size);
      const n = readAt(f.fd, buf.subarray(at), f.size, 0);
      const st = initialState();
      const end = finish(st, buf, encode(st, buf.subarray(at, at + n), buf, used, null, wire), wire);
      lengths.push(end - used);
      sizes.push(st.size);
      used = end;
    }
    return used;
  } finally {
    for (const f of files) closeSync(f.fd);
  }
}

const EMPTY = new ArrayBuffer(0);

export function read(input: ReadInput): ReadOutput {
  let name = input.name;
  let f = openMessage(fsPath(input.dir, name));
  let renamed: string | undefined;
  if (f === null) {
    const now = findByBase(input.dir, name);
    if (now !== null) {
      name = renamed = now;
      f = openMessage(fsPath(input.dir, name));
    }
  }
  const state = input.state ?? initialState();
  if (f === null) return { buf: EMPTY, length: 0, offset: input.offset, state, done: true, gone: true };
  try {
    const want = Math.max(0, Math.min(input.chunkSize, f.size - input.offset));
    const whole = input.offset === 0 && want === f.size;
    // A chunk of a long message is encoded straight into the buffer that goes to the event loop,
    // whole (it comes back through `reuse` once the socket wrote it): no copy, no garbage.
    const reuse = input.reuse;
    let buf: Buffer;
    if (whole) {
      buf = scratchFor(maxOutput(want), 0);
    } else {
      buf =
        reuse !== undefined && reuse.byteLength >= maxOutput(want)
          ? Buffer.from(reuse)
          : Buffer.allocUnsafeSlow(maxOutput(Math.max(want, input.chunkSize)));
    }
    const from = inPlaceOffset(0, want);
    const got = want > 0 ? readAt(f.fd, buf.subarray(from), want, input.offset) : 0;
    let len = encode(state, buf.subarray(from, from + got), buf, 0, input.lines, input.wire);
    const eof = input.offset + got >= f.size || got < want;
    if (eof) len = finish(state, buf, len, input.wire);
    const result: ReadOutput = {
      buf: EMPTY,
      length: len,
      offset: input.offset + got,
      state,
      done: eof || state.done,
      renamed,
    };
    if (!whole) {
      result.buf = buf.buffer as ArrayBuffer;
      result.chunk = true;
      return transferred(result);
    }
    // Read-ahead only after a whole message in one read, for RETR.
    let used = len;
    const ahead =
      eof && input.lines === null ? openWindow(input.dir, input.ahead, (input.aheadBytes ?? 0) - got) : [];
    if (ahead.length > 0) {
      result.aheadLengths = [];
      result.aheadSizes = [];
      used = appendWindow(ahead, used, input.wire, result.aheadLengths, result.aheadSizes);
    }
    result.buf = ownCopy(scratch, used, reuse);
    return transferred(result);
  } finally {
    closeSync(f.fd);
  }
}

export interface WindowInput {
  dir: string;
  /** The messages to read, in order; the window ends before the first that does not fit. */
  names: string[];
  /** Stored bytes at most. */
  bytes: number;
  wire: WireOptions;
}

/** RETR read-ahead on its own: the next window, read while the client is still taking the last one. */
export function readWindow(input: WindowInput): WindowOutput {
  const files = openWindow(input.dir, input.names, input.bytes);
  const out: WindowOutput = { buf: EMPTY, lengths: [], sizes: [] };
  if (files.length === 0) return out;
  // appendWindow may replace `scratch` with a bigger one: read it only after.
  const end = appendWindow(files, 0, input.wire, out.lengths, out.sizes);
  out.buf = ownCopy(scratch, end);
  return transferred(out);
}

export interface UnlockInput {
  dir: string;
  owner: LockOwner;
}

export function update(input: UpdateInput & UnlockInput): UpdateOutput {
  try {
    return updateMaildrop(input);
  } finally {
    // Unlock even when the update failed half-way: the session is over either way.
    releaseLock(input.dir, input.owner);
  }
}

export function release(input: UnlockInput): boolean {
  return releaseLock(input.dir, input.owner);
}

export function touch(input: UnlockInput): boolean {
  return touchLock(input.dir, input.owner);
}
