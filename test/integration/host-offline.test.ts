// withPersonality: a personality opened outside the server (for `host deliver`, `host adduser`).
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isHostError } from '../../src/errors.js';
import { withPersonality } from '../../src/host/offline.js';
import { helperPaths, makePersonality } from '../helpers/host.js';

test('withPersonality opens the pools, validates module options and closes everything after', async () => {
  const dir = makePersonality({
    c11n:
      'executes_as_root = true\n[database.default]\ndriver = sqlite\npath = data/u.sqlite\ninit = schema.sql\n' +
      '[echo]\ngreeting = offline\n',
    modules: [helperPaths.echoModule],
    files: { 'schema.sql': 'CREATE TABLE t (a TEXT);\n', 'data/.keep': '' },
  });
  try {
    const got = await withPersonality(dir, async (p) => {
      assert.equal(p.dir, dir);
      assert.equal(p.host.identity, 'server');
      assert.equal(p.moduleOptions('echo')?.greeting, 'offline');
      assert.equal(p.moduleOptions('echo')?.max_sessions, 100);
      assert.equal(p.moduleOptions('nosuch'), undefined);
      assert.throws(
        () => p.database('other'),
        (e) => isHostError(e, 'NO_DATABASE'),
      );
      const db = p.database('default');
      await db.execute('INSERT INTO t (a) VALUES (?)', ['x']);
      return db.query<{ a: string }>('SELECT a FROM t');
    });
    assert.deepEqual(got, [{ a: 'x' }]);
    assert.ok(existsSync(join(dir, 'data/u.sqlite')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('withPersonality refuses a broken c11n with every problem', async () => {
  const dir = makePersonality({ c11n: 'identiy = x\n[echo]\nport = y\n', modules: [helperPaths.echoModule] });
  try {
    await assert.rejects(
      withPersonality(dir, async () => 1),
      (e: Error) => isHostError(e, 'CONFIG') && /identiy/.test(e.message) && /\[echo\] port/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
