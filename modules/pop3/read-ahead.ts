// RETR read-ahead of a maildrop: whole small messages read (and encoded) after the one asked for,
// kept as wire bytes by message index, so a client fetching its messages one after the other gets
// most answers without waiting on a worker. When the window runs low while the client reads in
// order, the next one is read in the background, twice as large as the last (as the kernel's file
// read-ahead grows), so a long download takes few hand-offs and the first RETR still waits only for
// a small window. Memory: a quarter of a window and the next, each at most read_chunk.
import type { DelayCounter, Logger } from '../../src/api.js';

/** What a store's window task returns (transferred), the Maildir's and the mbox's alike. */
export interface WindowOutput {
  /** Wire bytes of the messages one after the other. */
  buf: ArrayBuffer;
  /** Wire length of each message read (fewer than asked when the window ended early). */
  lengths: number[];
  /** Their sizes before dot-stuffing (what LIST says). */
  sizes: number[];
}

/** Wire bytes of consecutive messages packed in `buf` from `at`, with their wire sizes. */
export interface Window {
  buf: ArrayBuffer;
  at: number;
  /** Bytes each message takes in `buf`, in order (dot-stuffed). */
  lengths: readonly number[];
  /** Each message's size before dot-stuffing (what LIST says). */
  sizes: readonly number[];
}

/** What both stores' read tasks return: a message's bytes and, after them, the window it brought. */
export interface ReadWithWindow {
  buf: ArrayBuffer;
  /** The message's wire bytes in `buf[0, length)`. */
  length: number;
  aheadLengths?: number[];
  aheadSizes?: number[];
}

/** The window a read brought after its message, packed in the same buffer; undefined without one. */
export function broughtWindow(r: ReadWithWindow): Window | undefined {
  if (r.aheadLengths === undefined || r.aheadSizes === undefined) return undefined;
  return { buf: r.buf, at: r.length, lengths: r.aheadLengths, sizes: r.aheadSizes };
}

/**
 * Reads the window that starts at message `from`, `scale` times the first window's size (a worker
 * hand-off counted on `session`).
 */
export type WindowReader = (from: number, scale: number, session: DelayCounter) => Promise<Window>;

/** The first window: the following messages whose stored bytes total at most this, at most this many. */
const WINDOW_BYTES = 64 * 1024;
const WINDOW_MESSAGES = 32;
/**
 * Windows read in order grow to this many times the first (512 KB, 256 messages; never more bytes
 * than a read_chunk). 1,000 small RETRs one after the other: 7 hand-offs instead of 32, and 3-8 %
 * more RETR/s than with every window the first's size (alternated on one machine). Not more:
 * a window is one task, and a worker reading hundreds of files (slow on NFS) keeps other sessions'
 * logins waiting behind it.
 */
const GROWTH_MAX = 8;
/** Messages left in the window when the next one is read in the background, at least. */
const REFILL_AT = 8;

/** A window `scale` times the first: its most messages, and its most stored bytes under `chunk`. */
export function windowSize(scale: number, chunk: number): { messages: number; bytes: number } {
  return { messages: WINDOW_MESSAGES * scale, bytes: Math.min(WINDOW_BYTES * scale, Math.max(4096, chunk)) };
}

export class ReadAhead {
  private kept: Map<number, { buf: Buffer; size: number }> | null = null;
  /** The index after the last message read ahead. */
  private end = 0;
  /** A window being read in the background, and where it starts. */
  private refilling: Promise<void> | null = null;
  private refillFrom = -1;
  /** Counts the windows a read brought (a read out of order): a refill of an older one is dropped. */
  private generation = 0;
  /** The size of the last window asked for, as a multiple of the first's; messages in the last kept. */
  private scale = 1;
  private lastCount = 0;
  private closed = false;

  constructor(
    /** Messages in the maildrop: nothing is read past the last. */
    private readonly count: number,
    private readonly readWindow: WindowReader,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** A read brought its own window, from message `first` on: it replaces what is left. */
  replace(first: number, w: Window): void {
    if (this.closed) return;
    this.kept = null;
    this.generation++;
    this.refillFrom = -1;
    this.scale = 1;
    this.keep(first, w);
  }

  /** Resolves once a background read that may hold message `index` is in. */
  settle(index: number): Promise<void> | undefined {
    return this.refilling !== null && index >= this.refillFrom ? this.refilling : undefined;
  }

  /** Message `index` if it was read ahead (taken: once only), and its size before dot-stuffing. */
  take(index: number, session: DelayCounter): { buf: Buffer; size: number } | undefined {
    const kept = this.kept;
    const got = kept?.get(index);
    if (kept == null || got === undefined) return undefined;
    kept.delete(index);
    // Reading on in order, and the window runs low (a quarter of a large one is left): read the
    // next one before it is asked for.
    if (
      kept.size <= Math.max(REFILL_AT, this.lastCount >> 2) &&
      this.refilling === null &&
      (kept.has(index + 1) || index + 1 === this.end)
    ) {
      this.refill(session);
    }
    if (kept.size === 0 && this.refilling === null) this.kept = null;
    return got;
  }

  close(): void {
    this.closed = true;
    this.kept = null;
  }

  /** Read the window that starts at `end` in the background, once per start. */
  private refill(session: DelayCounter): void {
    const from = this.end;
    if (from >= this.count || from === this.refillFrom || this.closed) return;
    const generation = this.generation;
    this.refillFrom = from;
    const scale = Math.min(this.scale * 2, GROWTH_MAX);
    this.scale = scale;
    // Started after the caller's own work (RETR writes its answer first): a microtask later.
    this.refilling = Promise.resolve()
      .then(() => this.readWindow(from, scale, session))
      .then(
        (w) => {
          // Dropped if a read out of order brought another window meanwhile, or the session ended.
          if (this.closed || generation !== this.generation || w.lengths.length === 0) return;
          this.keep(from, w);
        },
        (e: unknown) => this.onError(e),
      )
      .finally(() => {
        this.refilling = null;
      });
  }

  private keep(first: number, w: Window): void {
    const kept = this.kept ?? new Map<number, { buf: Buffer; size: number }>();
    let at = w.at;
    for (let k = 0; k < w.lengths.length; k++) {
      kept.set(first + k, { buf: Buffer.from(w.buf, at, w.lengths[k]), size: w.sizes[k] });
      at += w.lengths[k];
    }
    this.kept = kept;
    this.end = first + w.lengths.length;
    this.lastCount = w.lengths.length;
  }
}

/** A store's read-ahead, made at its first window (a session that never RETRs, most polls, has none). */
export function newReadAhead(count: number, reader: WindowReader, log: Logger, maildrop: string): ReadAhead {
  return new ReadAhead(count, reader, (e) => log.warn({ err: e, maildrop }, 'read-ahead failed'));
}

/**
 * What every store's read starts with: the maildrop open, message `index` in it, and for RETR the
 * message from the window (once a background read that may hold it is in). Undefined: read it.
 */
export async function readFromWindow(
  d: { readonly closed: boolean; readonly count: number; readonly ahead: ReadAhead | null },
  index: number,
  lines: number | null,
  cached: () => Buffer | undefined,
): Promise<Buffer | undefined> {
  if (d.closed) throw new Error('maildrop is closed');
  if (!Number.isInteger(index) || index < 0 || index >= d.count)
    throw new RangeError(`no message ${index + 1}`);
  if (lines !== null) return undefined;
  await d.ahead?.settle(index);
  return cached();
}
