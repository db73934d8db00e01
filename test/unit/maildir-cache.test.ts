import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type CacheRecord,
  cacheValid,
  formatCache,
  optionsKey,
  parseCache,
  TRUST_MARGIN_MS,
  trusted,
} from '../../modules/pop3/maildir/cache.js';

const NS = 1_000_000n;

function record(builtAtMs: number, mtimeMs: number): CacheRecord {
  return {
    newMtimeNs: BigInt(mtimeMs) * NS + 123n,
    curMtimeNs: BigInt(mtimeMs - 5000) * NS + 7n,
    builtAtMs,
    optsKey: optionsKey({ stripNul: false, ensureHeaderEnd: true }),
    listing: {
      names: ['cur/1.a.host:2,S', 'cur/name with spaces:2,', 'new/caf\xe9'],
      uids: ['1.a.host', 'Xabc', 'Xdef'],
      sizes: [10, 20, 30],
      disks: [9, 18, 27],
    },
  };
}

test('cache text round-trips names with spaces and 8-bit bytes, and exact ns mtimes', () => {
  const rec = record(1_700_000_010_000, 1_700_000_000_000);
  const back = parseCache(formatCache(rec));
  assert.deepEqual(back, rec);
});

test('an empty listing round-trips', () => {
  const rec = record(5, 1);
  rec.listing = { names: [], uids: [], sizes: [], disks: [] };
  assert.deepEqual(parseCache(formatCache(rec)), rec);
});

test('a truncated or foreign file is not a cache', () => {
  const text = formatCache(record(1_700_000_010_000, 1_700_000_000_000));
  assert.equal(parseCache(text.slice(0, text.length - 3)), null);
  assert.equal(parseCache(text.slice(0, text.indexOf('\n') + 1)), null);
  assert.equal(parseCache(`other ${text}`), null);
  assert.equal(parseCache(''), null);
});

test('mtimes are trusted only when older than the build time by the margin', () => {
  const m = 1_700_000_000_000;
  assert.ok(trusted(record(m + TRUST_MARGIN_MS + 1, m)));
  assert.ok(!trusted(record(m + TRUST_MARGIN_MS, m)));
  assert.ok(!trusted(record(m + 10, m)));
});

test('cacheValid needs both mtimes equal, trusted, and the same wire options', () => {
  const rec = record(1_700_000_010_000, 1_700_000_000_000);
  const key = rec.optsKey;
  assert.ok(cacheValid(rec, rec.newMtimeNs, rec.curMtimeNs, key));
  assert.ok(!cacheValid(rec, rec.newMtimeNs + 1n, rec.curMtimeNs, key));
  assert.ok(!cacheValid(rec, rec.newMtimeNs, rec.curMtimeNs - 1n, key));
  assert.ok(
    !cacheValid(rec, rec.newMtimeNs, rec.curMtimeNs, optionsKey({ stripNul: true, ensureHeaderEnd: true })),
  );
});
