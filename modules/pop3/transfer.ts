// Worker task results whose bytes move to the event loop instead of being copied (piscina transfers
// what a returned "movable" lists). Shared by the Maildir and mbox tasks.
import { move, transferableSymbol, valueSymbol } from 'piscina';

/** `result` as piscina returns it, with `result.buf` transferred. */
export function transferred<T extends { buf: ArrayBuffer }>(result: T): T {
  const movable = { [transferableSymbol]: [result.buf], [valueSymbol]: result };
  return move(movable) as unknown as T;
}

/**
 * `src[0, end)` in memory of its own, ready to transfer: into `into` when it is big enough, else
 * a new unpooled buffer (never a slice of Node's shared pool, which the worker still uses).
 */
export function ownCopy(src: Buffer, end: number, into?: ArrayBuffer): ArrayBuffer {
  const out =
    into !== undefined && into.byteLength >= end ? Buffer.from(into, 0, end) : Buffer.allocUnsafeSlow(end);
  src.copy(out, 0, 0, end);
  return out.buffer as ArrayBuffer;
}
