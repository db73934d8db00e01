// The mbox format as the POP3 engine sees it: where messages start and end, what their wire bytes
// are, and their UIDs. Pure code over buffers (no IO): the worker tasks feed it the file.
//
// Separation (mutt's rule, stricter than "any line starting with From "): a message starts at a
// line that begins with `From `, is at the start of the file or follows an empty line, and looks
// like a From_ line (`From [sender] Www Mmm dd hh:mm...`). So a `From ` in a body that is not
// preceded by an empty line, or that is prose ("From the desk of..."), never splits a message.
// The empty line before a From_ line (and one at the very end of the file) belongs to the mbox,
// not to the message, and is not sent.
//
// `>From` quoting (see README.md): mboxrd (default) removes one `>` from a line matching
// `^>+From `; mboxo removes it only from `^>From `; none sends lines as stored (what mutt and
// Dovecot show).
import { createHash, type Hash } from 'node:crypto';
import { encode, finish, initialState, type WireOptions, type WireState } from '../maildir/wire.js';

export type FromQuoting = 'mboxrd' | 'mboxo' | 'none';

const FROM_LINE =
  /^From (?:\S+\s+)?(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{1,2}:\d\d/;

/** Bytes `From ` at `at`. */
function fromAt(buf: Buffer, at: number, end: number): boolean {
  return (
    end - at >= 5 &&
    buf[at] === 70 &&
    buf[at + 1] === 114 &&
    buf[at + 2] === 111 &&
    buf[at + 3] === 109 &&
    buf[at + 4] === 32
  );
}

/** The line `buf[start, end)` (without its LF) is a From_ separator line. */
export function isFromLine(buf: Buffer, start: number, end: number): boolean {
  if (!fromAt(buf, start, end)) return false;
  return FROM_LINE.test(buf.toString('latin1', start, Math.min(end, start + 200)));
}

/** 1 when the line starting at `at` is a quoted From_ whose first `>` is to be removed. */
export function quoteAt(buf: Buffer, at: number, end: number, mode: FromQuoting): 0 | 1 {
  if (mode === 'none' || at >= end || buf[at] !== 62) return 0;
  let j = at + 1;
  if (mode === 'mboxrd') while (j < end && buf[j] === 62) j++;
  return fromAt(buf, j, end) ? 1 : 0;
}

/**
 * Remove the quoting `>` at the line starts of `buf` (a chunk that ends at a line end or at the
 * message end). `atLineStart`: the chunk's first byte begins a line. Returns `buf` itself when
 * nothing is quoted.
 */
export function unquote(buf: Buffer, atLineStart: boolean, mode: FromQuoting): Buffer {
  if (mode === 'none') return buf;
  const drops: number[] = [];
  let pos = 0;
  if (!atLineStart) {
    const lf = buf.indexOf(10);
    if (lf < 0) return buf;
    pos = lf + 1;
  }
  while (pos < buf.length) {
    if (quoteAt(buf, pos, buf.length, mode) === 1) drops.push(pos);
    const lf = buf.indexOf(10, pos);
    if (lf < 0) break;
    pos = lf + 1;
  }
  if (drops.length === 0) return buf;
  const out = Buffer.allocUnsafe(buf.length - drops.length);
  let o = 0;
  let from = 0;
  for (const d of drops) {
    o += buf.copy(out, o, from, d);
    from = d + 1;
  }
  buf.copy(out, o, from);
  return out;
}

/** One message: file offsets and its wire size. */
export interface MboxMessage {
  /** Offset of its From_ line. */
  from: number;
  /** Its first content byte (after the From_ line). */
  start: number;
  /** End of its content (exclusive): before the separating empty line. */
  end: number;
  /** Wire size (CRLF, unquoted, final CRLF), as RETR sends it before dot-stuffing. */
  size: number;
  uid: string;
}

// Headers that mail readers rewrite in place (status flags, IMAP bookkeeping, lengths): left out of
// the UID hash so a message keeps its UID after mutt, pine or Dovecot touched it.
const VOLATILE = /^(?:status|x-status|x-keywords|x-uid|x-imap|x-imapbase|content-length|lines|x-uidl)\s*:/i;
const X_UIDL = /^x-uidl\s*:\s*(\S+)\s*$/i;
const UID_OK = /^[\x21-\x7e]{1,70}$/;

/**
 * Line-by-line mbox parser. Feed complete lines in file order with `line()`, then `end()`.
 * Sizes are measured by the same wire encoder RETR uses, over the same unquoted bytes.
 */
export class MboxParser {
  readonly messages: MboxMessage[] = [];
  /** Bytes before the first From_ line that are not empty lines: not an mbox. */
  garbage = false;
  private prevBlank = true;
  private cur: {
    from: number;
    start: number;
    st: WireState;
    hash: Hash;
    inHeader: boolean;
    skipping: boolean;
    xuidl: string | null;
  } | null = null;
  /** An empty line not yet known to be content (it may be the separator). */
  private pending: Buffer | null = null;
  private pendingAt = 0;
  private readonly uids = new Set<string>();

  constructor(
    private readonly wire: WireOptions,
    private readonly quoting: FromQuoting,
  ) {}

  /** `buf[s, e)` is one line including its LF (none only for the file's last line); at file offset `at`. */
  line(buf: Buffer, s: number, e: number, at: number): void {
    let textEnd = e;
    if (textEnd > s && buf[textEnd - 1] === 10) textEnd--;
    const blank = textEnd === s || (textEnd === s + 1 && buf[s] === 13);
    if (this.prevBlank && isFromLine(buf, s, textEnd)) {
      this.close(at);
      const hash = createHash('md5');
      hash.update(buf.subarray(s, buf[textEnd - 1] === 13 ? textEnd - 1 : textEnd));
      hash.update('\n');
      this.cur = {
        from: at,
        start: at + (e - s),
        st: initialState(),
        hash,
        inHeader: true,
        skipping: false,
        xuidl: null,
      };
      this.prevBlank = false;
      return;
    }
    this.prevBlank = blank;
    const c = this.cur;
    if (c === null) {
      if (!blank) this.garbage = true;
      return;
    }
    if (blank) {
      this.commitPending();
      this.pending = buf.subarray(s, e);
      this.pendingAt = at;
      c.inHeader = false;
      return;
    }
    this.commitPending();
    const drop = quoteAt(buf, s, textEnd, this.quoting);
    encode(c.st, buf.subarray(s + drop, e), null, 0, null, this.wire);
    if (c.inHeader) {
      const cont = buf[s] === 32 || buf[s] === 9;
      const text = buf.toString('latin1', s, buf[textEnd - 1] === 13 ? textEnd - 1 : textEnd);
      if (!cont) {
        c.skipping = VOLATILE.test(text);
        const m = X_UIDL.exec(text);
        if (m && c.xuidl === null) c.xuidl = m[1];
      }
      if (!c.skipping) {
        c.hash.update(text, 'latin1');
        c.hash.update('\n');
      }
    }
  }

  private commitPending(): void {
    const c = this.cur;
    if (this.pending !== null && c !== null) encode(c.st, this.pending, null, 0, null, this.wire);
    this.pending = null;
  }

  /** The message in progress ends at `at` (a From_ line or the end of the file). */
  private close(at: number): void {
    const c = this.cur;
    if (c === null) return;
    const end = this.pending !== null ? this.pendingAt : at;
    this.pending = null;
    finish(c.st, null, 0, this.wire);
    this.messages.push({ from: c.from, start: c.start, end, size: c.st.size, uid: this.uid(c) });
    this.cur = null;
  }

  /** X-UIDL when usable (qpopper, Dovecot's pop3_reuse_xuidl), else MD5 of From_ line + stable headers. */
  private uid(c: { hash: Hash; xuidl: string | null }): string {
    const digest = c.hash.digest('hex');
    let uid = c.xuidl !== null && UID_OK.test(c.xuidl) && !this.uids.has(c.xuidl) ? c.xuidl : digest;
    // Identical copies (same From_ line and headers): numbered in file order.
    for (let n = 2; this.uids.has(uid); n++) uid = `${digest}-${n}`;
    this.uids.add(uid);
    return uid;
  }

  end(fileSize: number): MboxMessage[] {
    this.close(fileSize);
    return this.messages;
  }
}

/** Parse a whole mbox held in memory (tests, small files). */
export function parseMbox(data: Buffer, wire: WireOptions, quoting: FromQuoting): MboxMessage[] {
  const p = new MboxParser(wire, quoting);
  let pos = 0;
  while (pos < data.length) {
    const lf = data.indexOf(10, pos);
    const e = lf < 0 ? data.length : lf + 1;
    p.line(data, pos, e, pos);
    pos = e;
  }
  return p.end(data.length);
}
