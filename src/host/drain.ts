// Stopping a protocol module: close its listeners, let its open sessions finish on their own until
// the deadline, then ask the rest to shut down (each sends its protocol's shutdown reply).
import type { Listener } from '../api.js';

/** A session as the drain sees it: `shutdown()` ends it politely, `finished` settles once it closed. */
export interface DrainableSession {
  shutdown(): void;
  readonly finished: Promise<void>;
}

/**
 * The sessions a module has open: each is started here, and forgotten once it has finished, so a
 * module does not keep its own set and close callback.
 */
export class LiveSessions<S extends DrainableSession & { start(): void }> implements Iterable<S> {
  private readonly live = new Set<S>();

  get size(): number {
    return this.live.size;
  }

  [Symbol.iterator](): Iterator<S> {
    return this.live.values();
  }

  /** Starts the session (which sets its `finished`) and tracks it until then. */
  start(s: S): void {
    this.live.add(s);
    s.start();
    const forget = () => this.live.delete(s);
    s.finished.then(forget, forget);
  }
}

/** How long sessions told to shut down may take (e.g. an UPDATE or a commit in progress). */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * Close `listeners`, wait until `sessions` is empty or `deadline` (epoch ms) has passed, then shut the
 * remaining sessions down and wait for them, bounded so a stuck socket cannot hold the exit.
 * `sessions` is the module's live set (LiveSessions), which forgets sessions once they finished.
 */
export async function drainSessions(
  listeners: readonly Listener[],
  sessions: { readonly size: number } & Iterable<DrainableSession>,
  deadline: number,
): Promise<void> {
  await Promise.all(listeners.map((l) => l.close().catch(() => {})));
  while (sessions.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
  }
  if (sessions.size === 0) return;
  const closing = [...sessions].map((s) => {
    s.shutdown();
    return s.finished;
  });
  await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS).unref())]);
}
