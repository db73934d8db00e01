import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSessionLimiter } from '../../src/pools/sessions.js';

test('never more than max; over the limit resolves null at once and counts refused', async () => {
  const l = createSessionLimiter(1, 2);
  const a = await l.tryAcquire();
  const b = await l.tryAcquire();
  assert.ok(a && b);
  const t0 = performance.now();
  assert.equal(await l.tryAcquire(), null);
  assert.ok(performance.now() - t0 < 50, 'refusal does not wait');
  assert.deepEqual(l.stats(), { min: 1, max: 2, active: 2, total: 2, refused: 1 });
  a.release();
  a.release(); // twice is harmless
  assert.equal(l.stats().active, 1);
  const c = await l.tryAcquire();
  assert.ok(c);
  assert.equal(l.stats().active, 2);
  b.release();
  c.release();
  assert.equal(l.stats().active, 0);
});

test('concurrent acquires at the limit: exactly max succeed', async () => {
  const l = createSessionLimiter(0, 5);
  const slots = await Promise.all(Array.from({ length: 12 }, () => l.tryAcquire()));
  assert.equal(slots.filter((s) => s !== null).length, 5);
  assert.equal(l.stats().refused, 7);
  for (const s of slots) s?.release();
  assert.equal(l.stats().active, 0);
});

test('resize: a lower max refuses new sessions until enough end; a higher max admits more', async () => {
  const l = createSessionLimiter(0, 3);
  const held = await Promise.all([l.tryAcquire(), l.tryAcquire(), l.tryAcquire()]);
  l.resize(0, 1);
  assert.equal(await l.tryAcquire(), null);
  held[0]?.release();
  held[1]?.release();
  assert.equal(await l.tryAcquire(), null, 'still one active, max 1');
  held[2]?.release();
  const one = await l.tryAcquire();
  assert.ok(one);
  l.resize(2, 4);
  const more = await Promise.all([l.tryAcquire(), l.tryAcquire(), l.tryAcquire()]);
  assert.ok(more.every((s) => s !== null));
  assert.equal(await l.tryAcquire(), null);
  assert.deepEqual({ ...l.stats(), refused: 0 }, { min: 2, max: 4, active: 4, total: 7, refused: 0 });
  one.release();
  for (const s of more) s?.release();
  assert.equal(l.stats().active, 0);
});

test('max 0 refuses everyone', async () => {
  const l = createSessionLimiter(0, 0);
  assert.equal(await l.tryAcquire(), null);
});
