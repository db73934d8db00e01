// TRANSACTION: STAT LIST UIDL RETR TOP DELE RSET (RFC 1939 §5). Message numbers are indexes + 1
// and never change; a marked message answers -ERR. STAT, and LIST/UIDL without argument, are built
// from the maildrop listing once per session and reused while nothing is marked.
import { R } from '../replies.js';
import type { MessageInfo } from '../seams.js';
import type { Session } from '../session.js';
import type { Args } from './table.js';

const DOT_END = Buffer.from('.\r\n');

/** The 0-based index for message number n, or writes the -ERR and returns -1. */
function index(s: Session, n: number): number {
  const md = s.maildrop!;
  if (n < 1 || n > md.messages.length) {
    s.write(R.noMessage);
    return -1;
  }
  if (s.deleted?.has(n - 1)) {
    s.write(R.deleted);
    return -1;
  }
  return n - 1;
}

export function stat(s: Session): void {
  const md = s.maildrop!;
  const del = s.deleted;
  if (!del || del.size === 0) {
    s.statLine ??= `+OK ${md.messages.length} ${md.totalSize}\r\n`;
    s.write(s.statLine);
    return;
  }
  s.write(`+OK ${md.messages.length - del.size} ${md.totalSize - s.deletedBytes}\r\n`);
}

function multi(s: Session, head: string, line: (n: number, m: MessageInfo) => string): string {
  const msgs = s.maildrop!.messages;
  const del = s.deleted;
  const out: string[] = [head];
  for (let i = 0; i < msgs.length; i++) {
    if (del?.has(i)) continue;
    out.push(line(i + 1, msgs[i]));
  }
  out.push('.\r\n');
  return out.join('');
}

const listLine = (n: number, m: MessageInfo) => `${n} ${m.size}\r\n`;
const uidlLine = (n: number, m: MessageInfo) => `${n} ${m.uid}\r\n`;

function nothingMarked(s: Session): boolean {
  return !s.deleted || s.deleted.size === 0;
}

export function list(s: Session, a: Args): void {
  if (a.n > 0) {
    const i = index(s, a.n);
    if (i >= 0) s.write(`+OK ${a.n} ${s.maildrop!.messages[i].size}\r\n`);
    return;
  }
  if (nothingMarked(s)) {
    s.listAll ??= multi(s, '+OK scan listing follows\r\n', listLine);
    s.write(s.listAll);
  } else {
    s.write(multi(s, '+OK scan listing follows\r\n', listLine));
  }
}

export function uidl(s: Session, a: Args): void {
  if (a.n > 0) {
    const i = index(s, a.n);
    if (i >= 0) s.write(`+OK ${a.n} ${s.maildrop!.messages[i].uid}\r\n`);
    return;
  }
  if (nothingMarked(s)) {
    s.uidlAll ??= multi(s, '+OK unique-id listing follows\r\n', uidlLine);
    s.write(s.uidlAll);
  } else {
    s.write(multi(s, '+OK unique-id listing follows\r\n', uidlLine));
  }
}

export function dele(s: Session, a: Args): void {
  const i = index(s, a.n);
  if (i < 0) return;
  s.deleted ??= new Set();
  s.deleted.add(i);
  s.deletedBytes += s.maildrop!.messages[i].size;
  s.write(R.dele);
}

export function rset(s: Session): void {
  s.deleted?.clear();
  s.deletedBytes = 0;
  const md = s.maildrop!;
  s.write(`+OK maildrop has ${md.messages.length} messages (${md.totalSize} octets)\r\n`);
}

export function retr(s: Session, a: Args): void | Promise<void> {
  const i = index(s, a.n);
  if (i < 0) return;
  const md = s.maildrop!;
  const size = md.messages[i].size;
  const head = `+OK ${size} octets\r\n`;
  const body = md.readCached?.(i, s.conn);
  if (body === undefined) return send(s, i, null, head, size);
  // Read ahead: answered at once, in one write, with no promise (a client fetching its small
  // messages one after the other waits on each answer).
  const out = Buffer.allocUnsafe(head.length + body.length + DOT_END.length);
  out.write(head, 0, 'latin1');
  body.copy(out, head.length);
  DOT_END.copy(out, head.length + body.length);
  s.write(out);
  retrieved(s, i, size);
}

export function top(s: Session, a: Args): void | Promise<void> {
  const i = index(s, a.n);
  if (i < 0) return;
  return send(s, i, a.m, R.top, 0);
}

/**
 * Streams the message: the +OK line, the chunks as they are read and the socket drains, then
 * `.CRLF`. A message of one chunk leaves in ONE write. A read that fails before anything was
 * written is an -ERR and the session goes on; after that the multi-line answer cannot be
 * repaired, so the connection is closed.
 */
async function send(s: Session, i: number, lines: number | null, head: string, size: number): Promise<void> {
  const { conn } = s;
  const md = s.maildrop!;
  const it = md.read(i, lines, conn)[Symbol.asyncIterator]();
  const stopped = () => s.state !== 'transaction' || s.reason !== undefined;
  // The first chunk, and whether a second follows: a message of one chunk (most of them) then
  // leaves in one write.
  let first: IteratorResult<Buffer>;
  let r: IteratorResult<Buffer>;
  try {
    first = await it.next();
    r = first.done || stopped() ? first : await it.next();
  } catch (e) {
    conn.log.error({ err: e, message: i + 1 }, 'message read failed');
    if (!stopped()) s.write(R.readFailed);
    return;
  }
  if (stopped()) {
    await it.return?.();
    return;
  }
  const headBuf = Buffer.from(head, 'latin1');
  if (first.done) {
    s.write(Buffer.concat([headBuf, DOT_END]));
  } else if (r.done) {
    s.write(Buffer.concat([headBuf, first.value, DOT_END]));
  } else {
    // A long message: the +OK line, then each chunk as soon as it is read (the store reads the
    // following one meanwhile), pausing while the socket's buffer is full, then `.CRLF`. Once the
    // socket wrote a chunk, the store may fill its memory again (no garbage per chunk). Not over
    // TLS, whose layer may still hold it.
    const recycle = md.recycle !== undefined && !conn.secure ? md.recycle.bind(md) : undefined;
    const put = (c: Buffer): boolean =>
      recycle === undefined ? conn.write(c) : conn.write(c, () => recycle(c));
    try {
      conn.write(headBuf);
      let ok = put(first.value);
      while (!r.done) {
        if (!ok) {
          await Promise.race([conn.drained(), conn.closed]);
          if (stopped()) {
            await it.return?.();
            return;
          }
        }
        ok = put(r.value);
        r = await it.next();
        if (stopped()) {
          await it.return?.();
          return;
        }
      }
      s.write(DOT_END);
    } catch (e) {
      conn.log.error({ err: e, message: i + 1 }, 'message read failed while sending');
      s.reason = 'error';
      conn.destroy();
      return;
    }
  }
  if (lines === null) retrieved(s, i, size);
}

/** A whole message was sent: counted, and with EXPIRE 0 removed at UPDATE. */
function retrieved(s: Session, i: number, size: number): void {
  // EXPIRE 0 (RFC 2449 §6.7): what was retrieved is removed at UPDATE, DELE or not.
  if (s.deps.options().expire.trim() === '0') {
    s.expired ??= new Set();
    s.expired.add(i);
  }
  s.retrieved++;
  s.retrievedBytes += size;
  s.deps.stats.retrieved++;
  s.deps.stats.retrievedBytes += size;
}
