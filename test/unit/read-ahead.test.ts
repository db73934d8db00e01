// The RETR read-ahead window on its own, with a reader that answers when the test says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadAhead, readFromWindow, type Window } from '../../modules/pop3/read-ahead.js';

const s = { delays: 0 };
/** The reader is called a microtask after the take that starts a refill (after RETR's answer). */
const tick = () => new Promise((r) => setImmediate(r));

/** Messages are the bytes `m<index>;`; each window holds `per` of them. */
function windowOf(first: number, n: number): Window {
  const parts = Array.from({ length: n }, (_, k) => `m${first + k};`);
  const buf = Buffer.from(`head${parts.join('')}`);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
  return { buf: ab, at: 4, lengths: parts.map((p) => p.length), sizes: parts.map((p) => p.length + 1) };
}

/** Each window holds `per` messages, or `per` times the scale asked for when `grow` is set. */
function harness(count: number, per: number, grow = false) {
  const asked: number[] = [];
  const scales: number[] = [];
  const answers: (() => void)[] = [];
  const errors: unknown[] = [];
  const ra = new ReadAhead(
    count,
    (from, scale) => {
      asked.push(from);
      scales.push(scale);
      const n = grow ? per * scale : per;
      return new Promise<Window>((resolve) => {
        answers.push(() => resolve(windowOf(from, Math.min(n, count - from))));
      });
    },
    (e) => errors.push(e),
  );
  const answer = async () => {
    await tick();
    answers.shift()?.();
    await tick();
  };
  return { ra, asked, scales, answer, errors };
}

const text = (got: { buf: Buffer } | undefined) => got?.buf.toString();

test('a window is taken once per message; the next is asked for when 8 are left, once', async () => {
  const { ra, asked, answer } = harness(100, 20);
  assert.equal(ra.take(1, s), undefined, 'nothing before a read brought a window');
  ra.replace(1, windowOf(1, 20)); // messages 1..20
  for (let i = 1; i <= 11; i++) assert.equal(text(ra.take(i, s)), `m${i};`);
  await tick();
  assert.deepEqual(asked, [], '9 left: not yet');
  assert.equal(text(ra.take(12, s)), 'm12;');
  assert.deepEqual(asked, [], 'not before the caller has used the message (RETR writes first)');
  await tick();
  assert.deepEqual(asked, [21], '8 left: the next window, from the end of this one');
  ra.take(13, s);
  ra.take(14, s);
  await tick();
  assert.deepEqual(asked, [21], 'asked once');
  assert.equal(ra.take(13, s), undefined, 'taken already');
  assert.ok(ra.settle(25) instanceof Promise, 'a message past the refill start waits for it');
  assert.equal(ra.settle(5), undefined, 'one before it does not');
  await answer();
  assert.equal(ra.settle(25), undefined);
  for (let i = 15; i <= 32; i++) assert.equal(text(ra.take(i, s)), `m${i};`, `message ${i}`);
  await tick();
  assert.deepEqual(asked, [21, 41]);
});

test('a window a read brought meanwhile wins over a refill still in flight; nothing after close', async () => {
  const { ra, asked, answer } = harness(100, 10);
  ra.replace(0, windowOf(0, 10));
  for (let i = 0; i < 3; i++) ra.take(i, s);
  await tick();
  assert.deepEqual(asked, [10]);
  ra.replace(50, windowOf(50, 5)); // a read out of order
  await answer(); // the refill of 10.. lands late: dropped
  assert.equal(ra.take(10, s), undefined);
  assert.equal(text(ra.take(50, s)), 'm50;');
  ra.close();
  assert.equal(ra.take(51, s), undefined);
  ra.replace(60, windowOf(60, 5));
  assert.equal(ra.take(60, s), undefined, 'a closed window keeps nothing');
});

test('taking messages backwards starts no refill; the last message ends them', async () => {
  const { ra, asked, answer } = harness(12, 10);
  ra.replace(0, windowOf(0, 10));
  ra.take(2, s);
  ra.take(1, s); // 8 left, but the next one (2) is gone: not reading in order
  ra.take(0, s);
  await tick();
  assert.deepEqual(asked, []);
  assert.equal(text(ra.take(3, s)), 'm3;'); // 6 left, and 4 is next: in order
  await tick();
  assert.deepEqual(asked, [10]);
  await answer();
  for (let i = 4; i < 12; i++) assert.equal(text(ra.take(i, s)), `m${i};`, `message ${i}`);
  await tick();
  assert.deepEqual(asked, [10], 'nothing is read past the last message');
});

test('windows read in order grow twice at each refill up to 8 times the first; a read out of order starts over', async () => {
  const { ra, asked, scales, answer } = harness(10_000, 8, true);
  ra.replace(0, windowOf(0, 8)); // the first window: 8 messages (scale 1)
  let next = 0;
  /** Takes messages in order until a refill is asked for; returns how many the window still held. */
  const readOn = async (): Promise<number> => {
    const before = asked.length;
    while (asked.length === before) {
      assert.ok(ra.take(next, s) !== undefined, `message ${next} is in the window`);
      next++;
      await tick();
    }
    const left = (asked.at(-1) as number) - next;
    await answer();
    return left;
  };
  const left: number[] = [];
  for (let k = 0; k < 6; k++) left.push(await readOn());
  assert.deepEqual(scales, [2, 4, 8, 8, 8, 8]);
  assert.deepEqual(asked, [8, 24, 56, 120, 184, 248], 'each window starts where the last ended');
  assert.deepEqual(left.slice(1), [8, 8, 16, 16, 16], 'at 8 left, or a quarter of a window of 64');
  ra.replace(5000, windowOf(5000, 8));
  next = 5000;
  await readOn();
  assert.equal(scales.at(-1), 2, 'after a read out of order the windows grow again from the first');
});

test("readFromWindow: a store's read checks the maildrop is open and the message exists, and takes RETR from the window", async () => {
  const { ra, answer } = harness(40, 10);
  ra.replace(0, windowOf(0, 10));
  for (let i = 0; i < 3; i++) ra.take(i, s); // 7 left: the refill of 10.. is asked for
  await tick();
  const d = { closed: false, count: 40, ahead: ra };
  const cached = (i: number) => () => ra.take(i, s)?.buf;
  await assert.rejects(readFromWindow({ ...d, closed: true }, 3, null, cached(3)), /maildrop is closed/);
  await assert.rejects(readFromWindow(d, 40, null, cached(40)), RangeError);
  await assert.rejects(readFromWindow(d, -1, null, cached(0)), RangeError);
  await assert.rejects(readFromWindow(d, 1.5, null, cached(1)), RangeError);
  assert.equal(await readFromWindow(d, 4, 0, cached(4)), undefined, 'TOP is never taken from the window');
  assert.equal(text(ra.take(4, s)), 'm4;', 'and left it there');
  // Message 12 is in the window being read: the read waits for it instead of reading on its own.
  const pending = readFromWindow(d, 12, null, cached(12));
  await answer();
  assert.equal((await pending)?.toString(), 'm12;');
  assert.equal(await readFromWindow({ ...d, ahead: null }, 5, null, () => undefined), undefined);
});
