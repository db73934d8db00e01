// The seam decorators pass every Maildrop method through, the optional ones included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { observeStore } from '../../modules/pop3/observe.js';
import type { Maildrop, MaildropStore } from '../../modules/pop3/seams.js';

const silent = {
  info() {},
  warn() {},
  error() {},
  debug() {},
  child() {
    return silent;
  },
} as never;

function storeOf(md: Maildrop): MaildropStore {
  return { open: async () => ({ ok: true, maildrop: md }) };
}

function maildrop(withCache: boolean): Maildrop {
  const md: Maildrop = {
    messages: [{ uid: 'u1', size: 3 }],
    totalSize: 3,
    async *read() {
      yield Buffer.from('abc');
    },
    update: async () => ({ deleted: 0, deletedBytes: 0, failed: 0, left: 1, leftBytes: 3 }),
    release: async () => {},
  };
  if (withCache) md.readCached = (i) => (i === 0 ? Buffer.from('cached') : undefined);
  return md;
}

test('an observed maildrop keeps readCached when the store has it, and has none when it has not', async () => {
  const seen: string[] = [];
  const observer = { loaded: () => seen.push('loaded'), updated: () => seen.push('updated') };
  const s = { delays: 0 };
  for (const withCache of [true, false]) {
    const r = await observeStore(storeOf(maildrop(withCache)), () => observer).open('/x', {
      session: s,
      log: silent,
    });
    assert.ok(r.ok);
    if (withCache) {
      assert.equal(r.maildrop.readCached?.(0, s)?.toString(), 'cached');
      assert.equal(r.maildrop.readCached?.(1, s), undefined);
    } else {
      assert.equal(r.maildrop.readCached, undefined, 'no method: RETR reads through read()');
    }
    await r.maildrop.update(new Set(), s);
  }
  assert.deepEqual(seen, ['loaded', 'updated', 'loaded', 'updated']);
});
