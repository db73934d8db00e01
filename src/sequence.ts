// r2d2's command sequence string for a session's disconnect log line: one letter per command, a run
// of the same letter written once followed by its count when more than one (USER PASS STAT UIDL
// RETR×4 DELE×4 QUIT = `upsUr4d4q`). Each module picks its letters; the folding is shared.

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
    this.done += this.count > 1 ? this.last + this.count : this.last;
    this.last = letter;
    this.count = 1;
  }

  toString(): string {
    return this.done + (this.count > 1 ? this.last + this.count : this.last);
  }
}

/** Encodes a list of letters at once (tests, tools). */
export function encodeSequence(letters: Iterable<string>): string {
  const s = new Sequence();
  for (const l of letters) s.push(l);
  return s.toString();
}
