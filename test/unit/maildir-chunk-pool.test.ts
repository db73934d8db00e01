// The pool of chunk buffers for long RETRs: only adopted buffers come back, whole, at most `max`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkPool } from '../../modules/pop3/maildir/chunk-pool.js';

test('an adopted chunk given back is lent again; a foreign or sliced-from-elsewhere one is not kept', () => {
  const pool = new ChunkPool(2);
  const a = new ArrayBuffer(1024);
  pool.adopt(a);
  pool.give(Buffer.from(a, 0, 100));
  assert.equal(pool.idleCount, 1);
  assert.equal(pool.take(1024), a);
  assert.equal(pool.take(1024), undefined, 'lent once');

  pool.give(Buffer.alloc(1024)); // never adopted (a read-ahead window, a string's bytes)
  assert.equal(pool.idleCount, 0);

  pool.adopt(a);
  pool.give(Buffer.from(a));
  pool.give(Buffer.from(a)); // the same buffer twice (a second callback) is kept once
  assert.equal(pool.idleCount, 1);
});

test('at most max idle buffers; a smaller one than asked for is dropped', () => {
  const pool = new ChunkPool(2);
  const bufs = [new ArrayBuffer(512), new ArrayBuffer(2048), new ArrayBuffer(2048)];
  for (const b of bufs) {
    pool.adopt(b);
    pool.give(Buffer.from(b));
  }
  assert.equal(pool.idleCount, 2);
  assert.equal(pool.take(4096), undefined, 'none is big enough: both dropped');
  assert.equal(pool.idleCount, 0);
});
