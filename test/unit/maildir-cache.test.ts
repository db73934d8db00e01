import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type CacheRecord,
  cacheValid,
  FINE_TRUST_MARGIN_MS,
  formatCache,
  optionsKey,
  parseCache,
  sizesOf,
  TRUST_MARGIN_MS,
  toListing,
  toRecord,
  trusted,
} from '../../modules/pop3/maildir/cache.js';
import type { Listing } from '../../modules/pop3/maildir/listing.js';

const NS = 1_000_000n;

const listing: Listing = {
  names: ['cur/1.a.host:2,S', 'cur/name with spaces:2,', 'new/caf\xe9'],
  uids: ['1.a.host', 'Xabc', 'Xdef'],
  sizes: [10, 20, 30],
  disks: [9, 18, 27],
};

function record(builtAtMs: number, mtimeMs: number, l = listing): CacheRecord {
  const stamps = {
    newMtimeNs: BigInt(mtimeMs) * NS + 123n,
    curMtimeNs: BigInt(mtimeMs - 5000) * NS + 7n,
    builtAtMs,
    optsKey: optionsKey({ stripNul: false, ensureHeaderEnd: true }),
  };
  return toRecord(stamps, l);
}

test('cache text round-trips names with spaces and 8-bit bytes, and exact ns mtimes', () => {
  const rec = record(1_700_000_010_000, 1_700_000_000_000);
  const back = parseCache(formatCache(rec));
  assert.deepEqual(back, rec);
  assert.ok(back);
  assert.deepEqual(toListing(back), listing);
  assert.deepEqual([...(sizesOf(back) ?? [])], [10, 20, 30]);
});

test('an empty listing round-trips', () => {
  const rec = record(5, 1, { names: [], uids: [], sizes: [], disks: [] });
  const back = parseCache(formatCache(rec));
  assert.deepEqual(back, rec);
  assert.ok(back);
  assert.deepEqual(toListing(back).names, []);
  assert.equal(sizesOf(back)?.length, 0);
});

test('a truncated or foreign file is not a cache', () => {
  const text = formatCache(record(1_700_000_010_000, 1_700_000_000_000));
  assert.equal(parseCache(text.slice(0, text.length - 3)), null);
  assert.equal(parseCache(text.slice(0, text.indexOf('\n') + 1)), null);
  assert.equal(parseCache(`other ${text}`), null);
  assert.equal(parseCache(''), null);
  const bad = parseCache(text.replace('\n10 20 30\n', '\n10 2x 30\n'));
  assert.ok(bad === null || sizesOf(bad) === null, 'a damaged size column is refused');
});

test('mtimes are trusted only when older than the build time by the margin of their granularity', () => {
  const m = 1_700_000_000_000;
  // sub-second mtimes (record() adds ns): the fine margin
  assert.ok(trusted(record(m + FINE_TRUST_MARGIN_MS + 1, m)));
  assert.ok(!trusted(record(m + FINE_TRUST_MARGIN_MS, m)));
  assert.ok(!trusted(record(m + 10, m)));
  // whole-second mtimes: the coarse margin
  const coarse = { newMtimeNs: BigInt(m) * NS, curMtimeNs: BigInt(m - 5000) * NS };
  assert.ok(!trusted({ ...coarse, builtAtMs: m + FINE_TRUST_MARGIN_MS + 1 }));
  assert.ok(!trusted({ ...coarse, builtAtMs: m + TRUST_MARGIN_MS }));
  assert.ok(trusted({ ...coarse, builtAtMs: m + TRUST_MARGIN_MS + 1 }));
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
