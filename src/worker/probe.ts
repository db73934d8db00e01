// Trivial tasks: the host's liveness/latency probe, and the worker pool's own tests.
import { move } from 'piscina';

/** Round trip with no work: the hand-off cost. */
export function echo<T>(input: T): T {
  return input;
}

/** A buffer made in the worker, transferred (not copied) back. */
export function fill(input: { size: number; byte: number }): Uint8Array {
  // allocUnsafeSlow: never a slice of the shared pool, so its ArrayBuffer can be moved.
  const b = Buffer.allocUnsafeSlow(input.size).fill(input.byte);
  return move(b) as Uint8Array;
}

/** Sums the octets of a buffer handed in (transferred by the caller). */
export function sum(input: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < input.length; i++) s += input[i]!;
  return s;
}

export function fail(input: { message: string }): never {
  throw new Error(input.message);
}
