// A pure line splitter: fed socket chunks, pulled one line at a time. Pull (not push) lets the
// connection hold lines back while a command is in progress, without copying or re-queueing them.

/** Returned by `next()` once for a line longer than the cap (the line itself is discarded). */
export const OVERFLOW: unique symbol = Symbol('line overflow');
export type LineResult = Buffer | typeof OVERFLOW | null;

const LF = 0x0a;
const CR = 0x0d;

export class LineReader {
  /** Unread chunks; the first is read from `pos`. */
  private chunks: Buffer[] = [];
  private pos = 0;
  /** Start of a line whose end has not arrived yet (at most maxLine + 1 octets). */
  private partial: Buffer | null = null;
  /** Inside an over-long line: drop everything up to the next LF. */
  private discarding = false;
  private queued = 0;

  constructor(readonly maxLine: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
  }

  /** Octets received and not yet returned as lines. */
  get buffered(): number {
    return this.queued + (this.partial === null ? 0 : this.partial.length);
  }

  /** Forget everything received so far (STARTTLS: nothing sent in plaintext may leak into TLS). */
  clear(): void {
    this.chunks.length = 0;
    this.pos = 0;
    this.partial = null;
    this.discarding = false;
    this.queued = 0;
  }

  /**
   * The next complete line without its CRLF or LF, OVERFLOW once per over-long line, or null when
   * no complete line is buffered. A returned Buffer may share memory with the pushed chunk.
   */
  next(): LineResult {
    for (;;) {
      const chunk = this.chunks[0];
      if (chunk === undefined) return null;
      const start = this.pos;
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) {
        this.shift(chunk.length - start);
        if (!this.discarding) {
          const rest = chunk.subarray(start);
          this.partial = this.partial === null ? rest : Buffer.concat([this.partial, rest]);
          // +1: a CR may still be waiting for its LF.
          if (this.partial.length > this.maxLine + 1) {
            this.partial = null;
            this.discarding = true;
            return OVERFLOW;
          }
        }
        continue;
      }
      this.pos = lf + 1;
      this.queued -= lf + 1 - start;
      if (this.pos >= chunk.length) this.shift(0);
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      let line = chunk.subarray(start, lf);
      if (this.partial !== null) {
        line = Buffer.concat([this.partial, line]);
        this.partial = null;
      }
      const len = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
      if (len > this.maxLine) return OVERFLOW;
      return len === line.length ? line : line.subarray(0, len);
    }
  }

  /** Drop the first chunk, of which `unread` octets were still counted. */
  private shift(unread: number): void {
    this.chunks.shift();
    this.pos = 0;
    this.queued -= unread;
  }
}
