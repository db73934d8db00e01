// Session accounting: generic-pool holds the slots (min kept ready, max never exceeded); our own
// counter refuses synchronously at the limit so nothing ever waits in the pool's queue.
import genericPool, { type Pool } from 'generic-pool';
import type { SessionLimiter, SessionSlot, SessionStats } from '../api.js';

interface Token {
  readonly n: number;
}

const REFUSED: Promise<SessionSlot | null> = Promise.resolve(null);

function tokenPool(min: number, max: number): Pool<Token> {
  let n = 0;
  return genericPool.createPool<Token>(
    {
      create: async () => ({ n: n++ }),
      destroy: async () => {},
    },
    // No acquireTimeoutMillis: our counter keeps the pool from queueing, and the timeout would arm
    // and clear a timer at every connection.
    { min: Math.min(min, max), max: Math.max(1, max) },
  );
}

class Slot implements SessionSlot {
  private done = false;
  constructor(
    private readonly owner: Limiter,
    private readonly pool: Pool<Token>,
    private readonly token: Token,
  ) {}
  release(): void {
    if (this.done) return;
    this.done = true;
    this.owner.released(this.pool, this.token);
  }
}

class Limiter implements SessionLimiter {
  private pool: Pool<Token>;
  /** Pools replaced by resize() that still lend slots; drained once all come back. */
  private readonly retired = new Set<Pool<Token>>();
  private active = 0;
  private total = 0;
  private refused = 0;

  constructor(
    private min: number,
    private max: number,
  ) {
    this.pool = tokenPool(min, max);
  }

  tryAcquire(): Promise<SessionSlot | null> {
    if (this.active >= this.max) {
      this.refused++;
      return REFUSED;
    }
    this.active++;
    this.total++;
    const pool = this.pool;
    return pool.acquire().then(
      (token) => new Slot(this, pool, token),
      () => {
        this.active--;
        this.refused++;
        return null;
      },
    );
  }

  released(pool: Pool<Token>, token: Token): void {
    this.active--;
    void pool.release(token).then(() => {
      if (this.retired.has(pool) && pool.borrowed === 0) this.retire(pool);
    });
  }

  resize(min: number, max: number): void {
    if (min === this.min && max === this.max) return;
    const old = this.pool;
    this.min = min;
    this.max = max;
    this.pool = tokenPool(min, max);
    this.retired.add(old);
    if (old.borrowed === 0) this.retire(old);
  }

  private retire(pool: Pool<Token>): void {
    this.retired.delete(pool);
    void pool.drain().then(() => pool.clear());
  }

  stats(): SessionStats {
    return { min: this.min, max: this.max, active: this.active, total: this.total, refused: this.refused };
  }
}

/** `max` sessions at once (0 refuses everyone); `min` slots are created up front. */
export function createSessionLimiter(min: number, max: number): SessionLimiter {
  return new Limiter(min, max);
}
