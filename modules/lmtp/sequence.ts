// The command sequence of the disconnect log line, as POP3's: one letter per command, a run of the
// same letter written once with its count (LHLO MAIL RCPT×3 DATA QUIT = `LMr3Dq`).
//
// Letters: L LHLO, M MAIL, r RCPT, D DATA, R RSET, n NOOP, v VRFY, q QUIT, ! invalid (unknown or
// refused verb, over-long line).
export class Sequence {
  private done = '';
  private last = '';
  private count = 0;

  push(letter: string): void {
    if (letter === this.last) {
      this.count++;
      return;
    }
    this.done += this.count > 1 ? this.last + this.count : this.last;
    this.last = letter;
    this.count = 1;
  }

  toString(): string {
    return this.done + (this.count > 1 ? this.last + this.count : this.last);
  }
}
