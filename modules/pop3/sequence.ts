// r2d2's command sequence string for the disconnect log line: one letter per command, a run of the
// same letter written once followed by its count when more than one (USER PASS STAT UIDL RETR×4
// DELE×4 QUIT = `upsUr4d4q`).
//
// Letters (r2d2's): c CAPA, u USER, p PASS, q QUIT, s STAT, U UIDL, i UIDL n, L LIST, l LIST n,
// d DELE, R RSET, r RETR, t TOP, n NOOP, ^ STLS, ! invalid (unknown verb or over-long line).
// Ours: a APOP, A AUTH (the SASL exchange that follows counts as part of the AUTH).

/** Appends letters with run-length folding; the string is built only once, at disconnect. */
export class Sequence {
  private done = '';
  private last = '';
  private count = 0;

  push(letter: string): void {
    if (letter === this.last) {
      this.count++;
      return;
    }
    this.flush();
    this.last = letter;
    this.count = 1;
  }

  toString(): string {
    return this.count > 1 ? `${this.done}${this.last}${this.count}` : this.done + this.last;
  }

  private flush(): void {
    if (this.count > 1) this.done += this.last + this.count;
    else this.done += this.last;
  }
}

/** Encodes a list of letters at once (tests, tools). */
export function encodeSequence(letters: Iterable<string>): string {
  const s = new Sequence();
  for (const l of letters) s.push(l);
  return s.toString();
}
