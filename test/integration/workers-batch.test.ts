import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { task } from '../../src/api.js';
import { createWorkerPool } from '../../src/pools/workers.js';

const PROBE = new URL('../fixtures/worker/probe.js', import.meta.url);
const ECHO = task(PROBE, 'echo', { batch: true });
const FILL = task(PROBE, 'fill', { batch: true });
const FAIL = task(PROBE, 'fail', { batch: true });
const pool = createWorkerPool({ minThreads: 1, maxThreads: 2, idleTimeoutMs: 1000 });
after(() => pool.close());

test('task(..., { batch: true }) marks the ref; a plain ref stays as it was', () => {
  assert.equal(ECHO.batch, true);
  assert.deepEqual(task(PROBE, 'echo'), { file: PROBE.href, name: 'echo' });
});

test('short tasks started together leave in fewer messages than tasks, each with its own result', async () => {
  const before = pool.stats().completed;
  const session = { delays: 0 };
  const n = 40;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => pool.offload<{ i: number }, { i: number }>(session, ECHO, { i })),
  );
  assert.deepEqual(
    results.map((r) => r.i),
    Array.from({ length: n }, (_, i) => i),
  );
  assert.equal(session.delays, n, 'each task still counts as one delay of its session');
  const messages = pool.stats().completed - before;
  assert.ok(messages > 0 && messages < n / 4, `${n} batched tasks took ${messages} worker messages`);
});

test('a failing task in a batch rejects only its own caller', async () => {
  const [a, b, c] = await Promise.allSettled([
    pool.run(ECHO, 'a'),
    pool.run(FAIL, { message: 'boom in a batch' }),
    pool.run(ECHO, 'c'),
  ]);
  assert.deepEqual(a, { status: 'fulfilled', value: 'a' });
  assert.equal(b.status, 'rejected');
  assert.match(String((b as PromiseRejectedResult).reason?.message), /boom in a batch/);
  assert.deepEqual(c, { status: 'fulfilled', value: 'c' });
});

test('buffers moved by batched tasks arrive whole (transferred)', async () => {
  const outs = await Promise.all([
    pool.run<{ size: number; byte: number }, Uint8Array>(FILL, { size: 1 << 16, byte: 3 }),
    pool.run<{ size: number; byte: number }, Uint8Array>(FILL, { size: 1 << 17, byte: 9 }),
  ]);
  assert.equal(outs[0].byteLength, 1 << 16);
  assert.equal(outs[0][100], 3);
  assert.equal(outs[1].byteLength, 1 << 17);
  assert.equal(outs[1][(1 << 17) - 1], 9);
});

test('a lone batchable task runs as a plain one (no batch message)', async () => {
  assert.equal(await pool.run(ECHO, 'alone'), 'alone');
});
