// Login throttling: a failed login is answered after a delay that doubles with each recent failure
// from the same client address (so a password guesser slows down across connections). State is per
// process, bounded, and forgets after a quiet period. (LOGIN-DELAY lives in tasks.ts: it must be
// shared by every machine.)

/** Failures older than this no longer count. */
const FORGET_MS = 15 * 60_000;
/** Addresses remembered at most; the oldest are dropped beyond this (bounded memory under attack). */
const MAX_ENTRIES = 50_000;

interface Entry {
  count: number;
  last: number;
}

export class FailurePolicy {
  private readonly byAddress = new Map<string, Entry>();

  /** Records a failure and returns how long to wait before answering it. */
  fail(address: string, baseMs: number, maxMs: number, now = Date.now()): number {
    let e = this.byAddress.get(address);
    if (e && now - e.last > FORGET_MS) e = undefined;
    if (e) {
      // Re-insert so the Map's order stays oldest-first.
      this.byAddress.delete(address);
      e.count++;
      e.last = now;
    } else {
      e = { count: 1, last: now };
    }
    this.byAddress.set(address, e);
    if (this.byAddress.size > MAX_ENTRIES) {
      const oldest = this.byAddress.keys().next().value;
      if (oldest !== undefined) this.byAddress.delete(oldest);
    }
    return failureDelay(e.count, baseMs, maxMs);
  }

  /** Recent failures from an address (for tests and the report). */
  failures(address: string, now = Date.now()): number {
    const e = this.byAddress.get(address);
    return e && now - e.last <= FORGET_MS ? e.count : 0;
  }

  get size(): number {
    return this.byAddress.size;
  }
}

/** base × 2^(n-1), capped. */
export function failureDelay(failures: number, baseMs: number, maxMs: number): number {
  if (baseMs <= 0) return 0;
  const exp = Math.min(failures - 1, 20);
  return Math.min(baseMs * 2 ** exp, Math.max(maxMs, baseMs));
}
