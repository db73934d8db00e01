// The maildrop query compiler: every substitution a bound parameter, quotes absorbed, bad escapes
// refused at config time. The SQL it produces is run on real databases in test/integration/auth-*.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileQuery, loginValues, QueryFormatError, splitAddress } from '../../src/auth/query.js';

const R2D2 =
  'SELECT Maildrop FROM EmailAddress WHERE Address="%u" AND BINARY Password=PASSWORD(\'%p\') AND PopAttribute=1';

test('r2d2 default query: quotes absorbed, two bound parameters in order', () => {
  const q = compileQuery(R2D2);
  assert.equal(
    q.sql,
    'SELECT Maildrop FROM EmailAddress WHERE Address=? AND BINARY Password=PASSWORD(?) AND PopAttribute=1',
  );
  assert.deepEqual(q.bind(loginValues('joe@example.com', 'pw', '10.0.0.1')), ['joe@example.com', 'pw']);
  assert.deepEqual([...q.uses].sort(), ['password', 'user']);
});

test('every substitution letter, bare and quoted', () => {
  const q = compileQuery("SELECT 1 WHERE a=%u AND b='%l' AND c=\"%d\" AND d=%p AND e='%r'");
  assert.equal(q.sql, 'SELECT 1 WHERE a=? AND b=? AND c=? AND d=? AND e=?');
  assert.deepEqual(q.bind(loginValues('joe+x@ex.org', 'secret', '::1')), [
    'joe+x@ex.org',
    'joe+x',
    'ex.org',
    'secret',
    '::1',
  ]);
});

test('a literal composed of substitutions and text becomes one parameter', () => {
  const q = compileQuery("SELECT m FROM t WHERE addr = '%l@%d' AND note = 'it''s %%: %r!'");
  assert.equal(q.sql, 'SELECT m FROM t WHERE addr = ? AND note = ?');
  assert.deepEqual(q.bind(loginValues('a@b.c', '', '1.2.3.4')), ['a@b.c', "it's %: 1.2.3.4!"]);
});

test('%% is a percent sign; literals without substitutions are kept verbatim', () => {
  const q = compileQuery("SELECT m FROM t WHERE a LIKE '%%@example.com' AND b = 7 %% 3 AND c = 'x''y'");
  assert.equal(q.sql, "SELECT m FROM t WHERE a LIKE '%@example.com' AND b = 7 % 3 AND c = 'x''y'");
  assert.deepEqual(q.params, []);
});

test('a ? inside a literal makes that literal a parameter (no client-side placeholder confusion)', () => {
  const q = compileQuery("SELECT m FROM t WHERE a = 'why?' AND u = '%u'");
  assert.equal(q.sql, 'SELECT m FROM t WHERE a = ? AND u = ?');
  assert.deepEqual(q.bind(loginValues('u', '', '')), ['why?', 'u']);
});

test('identifiers and comments are copied and may not hold substitutions', () => {
  const q = compileQuery('SELECT `max%%` FROM t -- it\'s a comment\nWHERE u=%u /* "x */');
  assert.equal(q.sql, 'SELECT `max%` FROM t -- it\'s a comment\nWHERE u=? /* "x */');
  assert.throws(() => compileQuery('SELECT `%u` FROM t'), /inside a `quoted` identifier/);
  assert.throws(() => compileQuery('SELECT m FROM t -- %u\nWHERE 1'), /inside a comment/);
});

test('malformed format strings are refused with a clear message', () => {
  assert.throws(
    () => compileQuery('SELECT m WHERE u=%x'),
    (e: unknown) => {
      assert.ok(e instanceof QueryFormatError);
      assert.match(e.message, /unknown escape %x at offset 17/);
      return true;
    },
  );
  assert.throws(() => compileQuery('SELECT m WHERE u=%'), /lone % at the end/);
  assert.throws(() => compileQuery('SELECT m WHERE u=?'), /bare \?/);
  assert.throws(() => compileQuery("SELECT m WHERE u='%u"), /unterminated ' literal/);
  assert.throws(() => compileQuery('SELECT m /* x'), /unterminated \/\* comment/);
  assert.throws(() => compileQuery("SELECT 'abc%q'"), /unknown escape %q/);
});

test('compiled once per string', () => {
  const a = compileQuery(`${R2D2} `);
  const b = compileQuery(`${R2D2} `);
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
});

test('hostile input stays a value: the SQL text never depends on it', () => {
  const q = compileQuery(R2D2);
  for (const user of ['x" OR "1"="1', "'; DROP TABLE EmailAddress; --", '%u%p%%', '?', 'a\\"b']) {
    const params = q.bind(loginValues(user, "' OR '1'='1", '1.1.1.1'));
    assert.deepEqual(params, [user, "' OR '1'='1"]);
  }
  assert.ok(!q.sql.includes('"') && !q.sql.includes("'"));
});

test('splitAddress uses the last @; no @ means no domain', () => {
  assert.deepEqual(splitAddress('joe@example.com'), { local: 'joe', domain: 'example.com' });
  assert.deepEqual(splitAddress('"a@b"@example.com'), { local: '"a@b"', domain: 'example.com' });
  assert.deepEqual(splitAddress('joe'), { local: 'joe', domain: '' });
});
