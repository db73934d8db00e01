// A 100,000-message Maildir: first open vs unchanged re-open. Timings are printed, not asserted
// (shared machines); the counters that make the cheap case cheap are asserted.
// MAILDIR_SCALE_MSGS overrides the count.
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMaildirStore, type OpenedMaildrop } from '../../modules/pop3/maildir/store.js';
import { MAILDIR_CONFIG, storeFixture } from '../helpers/store-fixture.js';

const COUNT = Number(process.env.MAILDIR_SCALE_MSGS ?? 100_000);
const { log, pool, root } = storeFixture('maildir-scale');

test(`STAT/UIDL on a ${COUNT}-message Maildir: first open, then cached re-open`, {
  timeout: 240_000,
}, async () => {
  const md = join(root, 'Maildir');
  for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(md, s), { recursive: true });
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i++) {
    const data = `From: s${i % 7}@example.org\nTo: u@example.org\nSubject: message ${i}\n\nline one\nline two ${i}\n`;
    const crlf = data.length + 6;
    const t = 1_700_000_000 + i;
    const name =
      i % 3 === 0
        ? `${t}.M${i}P42Q${i}.mx1.example,S=${data.length}`
        : i % 3 === 1
          ? `${t}.M${i}P42Z${crlf.toString(16).toUpperCase()}.mx1.example`
          : `${t}.R${i.toString(16)}.mx1.example`;
    writeFileSync(join(md, i % 5 < 2 ? `new/${name}` : `cur/${name}:2,S`), data);
  }
  const made = performance.now() - t0;
  const store = createMaildirStore(() => MAILDIR_CONFIG, pool);
  const age = () => {
    const t = Date.now() / 1000 - 60;
    for (const s of ['new', 'cur']) utimesSync(join(md, s), t, t);
  };
  async function timed(): Promise<{ ms: number; md: OpenedMaildrop }> {
    const s = { delays: 0 };
    const start = performance.now();
    const r = await store.open(md, { session: s, log });
    if (!r.ok) assert.fail(JSON.stringify(r));
    const m = r.maildrop as OpenedMaildrop;
    // What STAT and UIDL need: the count, the total, every UID.
    let uidChars = 0;
    for (const x of m.messages) uidChars += x.uid.length;
    const ms = performance.now() - start;
    assert.ok(uidChars > 0 && m.totalSize > 0);
    await m.release(s);
    return { ms, md: m };
  }

  const first = await timed();
  assert.equal(first.md.messages.length, COUNT);
  assert.equal(first.md.counters.measured, COUNT);
  assert.equal(
    first.md.counters.moved,
    Math.ceil((COUNT * 2) / 5) - (COUNT % 5 === 1 ? 1 : 0) || first.md.counters.moved,
  );
  const second = await timed(); // cur/ was just changed by our moves: rescan, nothing measured
  assert.equal(second.md.counters.measured, 0);
  age();
  const third = await timed(); // mtimes changed: rescan, nothing measured, trusted cache written
  assert.equal(third.md.counters.measured, 0);
  assert.equal(third.md.counters.cacheWritten, true);
  const cached = await timed();
  assert.equal(cached.md.counters.fromCache, true);
  assert.equal(cached.md.counters.scanned, 0);
  const cached2 = await timed();
  assert.equal(cached2.md.counters.fromCache, true);

  // One new message after that: only it is measured.
  writeFileSync(join(md, 'new', '1800000000.M1P1.mx1.example'), 'Subject: new\n\nnew\n');
  const oneNew = await timed();
  assert.equal(oneNew.md.counters.measured, 1);
  assert.equal(oneNew.md.messages.length, COUNT + 1);

  const f = (x: number) => `${x.toFixed(0)} ms`;
  console.log(
    `maildir scale ${COUNT} messages: corpus written in ${f(made)}; first open ${f(first.ms)} ` +
      `(moved ${first.md.counters.moved}, measured ${first.md.counters.measured}, hinted ${first.md.counters.hinted}); ` +
      `re-open right after (rescan, reuse) ${f(second.ms)}; re-open after dir change, no new mail ${f(third.ms)}; ` +
      `cached re-open ${f(cached.ms)} / ${f(cached2.ms)}; one new message ${f(oneNew.ms)}`,
  );
});
