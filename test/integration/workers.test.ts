import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { task } from '../../src/api.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const PROBE = new URL('../fixtures/worker/probe.js', import.meta.url);
const pool = createWorkerPool({ minThreads: 1, maxThreads: 2, idleTimeoutMs: 1000 });
after(() => pool.close());

test('offload counts one delay per hand-off and returns the result', async () => {
  const session = { delays: 0 };
  assert.deepEqual(await pool.offload(session, task(PROBE, 'echo'), { a: 1, b: ['x'] }), { a: 1, b: ['x'] });
  await pool.offload(session, task(PROBE, 'echo'), 2);
  assert.equal(session.delays, 2);
  await pool.run(task(PROBE, 'echo'), 3);
  assert.equal(session.delays, 2, 'run() is not attributed to a session');
});

test('buffers cross both ways transferred, not copied', async () => {
  const input = new Uint8Array(new ArrayBuffer(1 << 20)).fill(2);
  const ab = input.buffer;
  const total = await pool.run<Uint8Array, number>(task(PROBE, 'sum'), input, [ab]);
  assert.equal(total, 2 << 20);
  assert.equal(ab.byteLength, 0, 'the caller no longer owns a transferred buffer');

  const out = await pool.run<{ size: number; byte: number }, Uint8Array>(task(PROBE, 'fill'), {
    size: 1 << 20,
    byte: 7,
  });
  assert.equal(out.byteLength, 1 << 20);
  assert.equal(out[12345], 7);
});

test('a failing task rejects, and the pool keeps working', async () => {
  await assert.rejects(pool.run(task(PROBE, 'fail'), { message: 'boom' }), /boom/);
  assert.equal(await pool.run(task(PROBE, 'echo'), 'ok'), 'ok');
});

test('stats and the hand-off latency of a trivial task', async (t) => {
  const ref = task(PROBE, 'echo');
  for (let i = 0; i < 3000; i++) await pool.run(ref, i); // warm (JIT on both sides)
  const n = 2000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await pool.run(ref, i);
  const serialUs = Number(process.hrtime.bigint() - t0) / 1000 / n;
  const t1 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: n }, (_, i) => pool.run(ref, i)));
  const parallelUs = Number(process.hrtime.bigint() - t1) / 1000 / n;
  t.diagnostic(
    `worker hand-off: ${serialUs.toFixed(1)} µs round trip one at a time, ${parallelUs.toFixed(1)} µs/task with ${n} in flight`,
  );
  const s = pool.stats();
  assert.equal(s.min, 1);
  assert.equal(s.max, 2);
  assert.ok(s.threads >= 1 && s.threads <= 2);
  assert.ok(s.completed >= 2 * n);
  assert.ok(s.runTimeMeanMs >= 0 && Number.isFinite(s.waitTimeMeanMs));
  assert.ok(serialUs < 5000, 'a trivial hand-off takes well under 5 ms');
});
