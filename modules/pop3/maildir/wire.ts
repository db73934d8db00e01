// From stored bytes to POP3 wire bytes, in chunks, with state carried between chunks. The same
// code measures a message (out = null) and encodes it for RETR/TOP, so the size LIST reports is
// by construction the number of octets RETR sends before dot-stuffing.
//
// The rules, applied in this order:
//   1. stripNul: NUL bytes are removed (as if they were never stored).
//   2. every LF not preceded by CR becomes CRLF; existing CRLF and lone CR are kept.
//   3. TOP n: the header, the blank line, then n body lines (a header-only message: all of it).
//   4. a non-empty message (or TOP answer) whose last line has no line end gets CRLF.
//   5. ensureHeaderEnd: a non-empty message with no blank line gets one (CRLF) at its end.
//   6. dot-stuffing: a line starting with '.' gets one more '.'; not counted in the size.

export interface WireOptions {
  stripNul: boolean;
  ensureHeaderEnd: boolean;
}

/** Plain data: it crosses the worker boundary between chunks. */
export interface WireState {
  /** Bytes on the current line so far (after NUL removal). */
  lineLen: number;
  /** The last byte seen was CR. */
  prevCR: boolean;
  /** The blank line ending the header has been seen. */
  inBody: boolean;
  /** Complete body lines so far. */
  bodyLines: number;
  /** The TOP limit was reached: nothing more is sent. */
  done: boolean;
  /** Octets produced so far, before dot-stuffing. */
  size: number;
}

export function initialState(): WireState {
  return { lineLen: 0, prevCR: false, inBody: false, bodyLines: 0, done: false, size: 0 };
}

/** Worst-case output for `n` input bytes: every line ".\n" doubles; plus the end additions. */
export function maxOutput(n: number): number {
  return 2 * n + 4;
}

/**
 * Feed `src` (stored bytes, in file order). Writes wire bytes to `out` at `at` when `out` is given
 * and returns the new write position. `lines` is the TOP limit (null for RETR).
 *
 * In place: `src` may be a view of `out`'s own memory that starts at least `src.length` bytes after
 * `out[at]` (see `inPlaceOffset`). Output (at most twice the input consumed) then never overtakes
 * the input not read yet, and each line moves with copyWithin: no copy in, and no view object per
 * line, which Buffer#copy makes on Node 20 (on a 10 MB message that was over half the encode time).
 */
export function encode(
  st: WireState,
  input: Buffer,
  out: Buffer | null,
  at: number,
  lines: number | null,
  opts: WireOptions,
): number {
  if (st.done) return at;
  const src = opts.stripNul && input.indexOf(0) >= 0 ? withoutNul(input) : input;
  const n = src.length;
  // Where src starts in out's coordinates, when both are views of one ArrayBuffer; else -1.
  const shift = out !== null && out.buffer === src.buffer ? src.byteOffset - out.byteOffset : -1;
  if (shift >= 0 && shift < at + n) throw new RangeError('in-place encode: input too close to output');
  let o = at;
  let pos = 0;
  let lineLen = st.lineLen;
  let prevCR = st.prevCR;
  let size = st.size;
  while (pos < n) {
    const lf = src.indexOf(10, pos);
    const end = lf < 0 ? n : lf;
    if (end > pos) {
      // Read before writing: in place, the write may cover these input bytes.
      prevCR = src[end - 1] === 13;
      if (out !== null) {
        if (lineLen === 0 && src[pos] === 46) out[o++] = 46;
        if (shift >= 0) out.copyWithin(o, shift + pos, shift + end);
        else src.copy(out, o, pos, end);
        o += end - pos;
      }
      size += end - pos;
      lineLen += end - pos;
    }
    if (lf < 0) break;
    const blank = lineLen === 0 || (lineLen === 1 && prevCR);
    if (prevCR) {
      size += 1;
      if (out !== null) out[o++] = 10;
    } else {
      size += 2;
      if (out !== null) {
        out[o++] = 13;
        out[o++] = 10;
      }
    }
    lineLen = 0;
    prevCR = false;
    pos = lf + 1;
    if (!st.inBody) {
      if (blank) {
        st.inBody = true;
        if (lines === 0) st.done = true;
      }
    } else {
      st.bodyLines++;
      if (lines !== null && st.bodyLines >= lines) st.done = true;
    }
    if (st.done) break;
  }
  st.lineLen = lineLen;
  st.prevCR = prevCR;
  st.size = size;
  return o;
}

/** End of the stored message: the line-end and header-end additions. Returns the write position. */
export function finish(st: WireState, out: Buffer | null, at: number, opts: WireOptions): number {
  if (st.done) return at;
  let o = at;
  if (st.lineLen > 0) {
    // A partial last line: in the body it is one more body line.
    st.size += 2;
    if (out !== null) {
      out[o++] = 13;
      out[o++] = 10;
    }
  }
  if (opts.ensureHeaderEnd && !st.inBody && st.size > 0) {
    st.size += 2;
    if (out !== null) {
      out[o++] = 13;
      out[o++] = 10;
    }
  }
  st.done = true;
  return o;
}

/** Where to put `n` stored bytes in a buffer so `encode` can write them, in place, from `at`. */
export function inPlaceOffset(at: number, n: number): number {
  return at + n + 4;
}

function withoutNul(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(src.length);
  let o = 0;
  let pos = 0;
  for (;;) {
    const z = src.indexOf(0, pos);
    const end = z < 0 ? src.length : z;
    o += src.copy(out, o, pos, end);
    if (z < 0) return out.subarray(0, o);
    pos = z + 1;
  }
}

/** Wire size and facts of a whole stored message held in memory (tests, small files). */
export function measure(data: Buffer, opts: WireOptions): WireState {
  const st = initialState();
  encode(st, data, null, 0, null, opts);
  finish(st, null, 0, opts);
  return st;
}
