import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  baseName,
  compareNames,
  crlfSizeHint,
  curName,
  derivedUid,
  hintAgrees,
  isPlainUid,
  uidFor,
} from '../../modules/pop3/maildir/names.js';

test('base name drops the info part, keeps everything before the first colon', () => {
  assert.equal(baseName('1700000000.M1P2.host:2,RS'), '1700000000.M1P2.host');
  assert.equal(baseName('1700000000.M1P2.host'), '1700000000.M1P2.host');
  assert.equal(baseName('a:b:2,S'), 'a');
});

test('UIDL is the base name when it is 1-70 chars of 0x21-0x7E, else X + sha1 hex', () => {
  const ok = `1700000007.M123456P4242Z1F4.mx1.popharness.test`;
  assert.equal(uidFor(ok), ok);
  const seventy = 'a'.repeat(70);
  assert.equal(uidFor(seventy), seventy);
  const long = 'a'.repeat(71);
  const d = uidFor(long);
  assert.match(d, /^X[0-9a-f]{40}$/);
  assert.equal(uidFor(long), d, 'stable');
  assert.notEqual(uidFor('b'.repeat(71)), d);
  assert.match(uidFor('with space'), /^X[0-9a-f]{40}$/);
  assert.match(uidFor('caf\xe9'), /^X[0-9a-f]{40}$/, '8-bit name');
  assert.match(uidFor(''), /^X[0-9a-f]{40}$/);
  assert.ok(isPlainUid(d), 'a derived UID is itself a valid unique-id');
  assert.equal(derivedUid('x'), derivedUid('x'));
});

test('size hints: r2d2 Z<HEX> in the middle part, Maildir++ W=; S= is not a wire size', () => {
  assert.equal(crlfSizeHint('1700001007.M123P456Z1A3F.mx1.popharness.test'), 0x1a3f);
  assert.equal(crlfSizeHint('1700001007.M123P456Q1.mx1.popharness.test,S=812'), null);
  assert.equal(crlfSizeHint('1700001007.M123P456Q1.host,S=812,W=840'), 840);
  assert.equal(crlfSizeHint('1700001007.R0badcafe.mx1.popharness.test'), null);
  // a Z in the host part is not a hint
  assert.equal(crlfSizeHint('1700001007.M1P2.Z99.example'), null);
  assert.equal(crlfSizeHint('plainname'), null);
});

test('a hint agrees with the disk size when disk <= hint <= 2 * disk', () => {
  assert.ok(hintAgrees(100, 100));
  assert.ok(hintAgrees(200, 100));
  assert.ok(!hintAgrees(99, 100));
  assert.ok(!hintAgrees(201, 100));
  assert.ok(hintAgrees(0, 0));
  assert.ok(!hintAgrees(2, 0));
});

test('cur/ names get :2, unless they already carry info; names sort by leading time', () => {
  assert.equal(curName('123.abc.host'), '123.abc.host:2,');
  assert.equal(curName('123.abc.host:2,S'), '123.abc.host:2,S');
  const names = ['1700000014.b', 'x', '999999999.a', '1700000007.c'];
  assert.deepEqual(names.sort(compareNames), ['999999999.a', '1700000007.c', '1700000014.b', 'x']);
});
