import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildCapa, expireValue } from '../../modules/pop3/capa.js';
import { parseArgs, TABLE } from '../../modules/pop3/commands/table.js';
import { splitFolder } from '../../modules/pop3/login.js';
import { FailurePolicy, failureDelay } from '../../modules/pop3/policy.js';
import { encodeSequence, Sequence } from '../../modules/pop3/sequence.js';
import { LOGIN_STAMP_FILE, loginStamp } from '../../modules/pop3/tasks.js';
import { testOptions } from '../helpers/pop3-doubles.js';

test('sequence: the r2d2 seed example', () => {
  const letters = ['u', 'p', 's', 'U', 'r', 'r', 'r', 'r', 'd', 'd', 'd', 'd', 'q'];
  assert.equal(encodeSequence(letters), 'upsUr4d4q');
});

test('sequence: empty, single, runs at the end and counts above 9', () => {
  assert.equal(encodeSequence([]), '');
  assert.equal(encodeSequence(['c']), 'c');
  assert.equal(encodeSequence(['n', 'n']), 'n2');
  const s = new Sequence();
  for (let i = 0; i < 12; i++) s.push('r');
  s.push('q');
  assert.equal(s.toString(), 'r12q');
  assert.equal(s.toString(), 'r12q', 'toString does not change the state');
});

test('table: every RFC 1939/2449/2595/5034 verb with its letter', () => {
  const letters = Object.fromEntries(Object.entries(TABLE).map(([v, s]) => [v, s.letter]));
  assert.deepEqual(letters, {
    CAPA: 'c',
    USER: 'u',
    PASS: 'p',
    APOP: 'a',
    AUTH: 'A',
    STLS: '^',
    QUIT: 'q',
    STAT: 's',
    LIST: 'L',
    UIDL: 'U',
    RETR: 'r',
    TOP: 't',
    DELE: 'd',
    RSET: 'R',
    NOOP: 'n',
  });
  assert.equal(TABLE.LIST.letterWithArg, 'l');
  assert.equal(TABLE.UIDL.letterWithArg, 'i');
  assert.deepEqual(TABLE.RETR.states, ['transaction']);
  assert.deepEqual(TABLE.USER.states, ['authorization']);
  assert.ok(TABLE.QUIT.states.includes('authorization') && TABLE.QUIT.states.includes('transaction'));
});

test('parseArgs: shapes', () => {
  assert.deepEqual(parseArgs('none', ''), { n: 0, m: 0, text: '', text2: '' });
  assert.equal(parseArgs('none', 'x'), null);
  assert.equal(parseArgs('msg', ''), null);
  assert.equal(parseArgs('msg', '0'), null);
  assert.equal(parseArgs('msg', '-1'), null);
  assert.equal(parseArgs('msg', '1x'), null);
  assert.equal(parseArgs('msg', '1 2'), null);
  assert.equal(parseArgs('msg', '9999999999'), null);
  assert.equal(parseArgs('msg', '12')?.n, 12);
  assert.equal(parseArgs('msg?', '')?.n, 0);
  assert.deepEqual(parseArgs('top', '3 0'), { n: 3, m: 0, text: '', text2: '' });
  assert.equal(parseArgs('top', '3'), null);
  assert.equal(parseArgs('top', '3 -1'), null);
  assert.equal(parseArgs('word', '  '), null);
  assert.equal(parseArgs('word', 'joe@example.com')?.text, 'joe@example.com');
  assert.equal(parseArgs('rest', ' pass with spaces ')?.text, ' pass with spaces ');
  assert.equal(parseArgs('rest', '')?.text, '');
  const ap = parseArgs(
    'apop',
    'mrose c4c9334bac560ecc979e58001b3e22fb'.toUpperCase().replace('MROSE', 'mrose'),
  );
  assert.deepEqual(ap && [ap.text, ap.text2], ['mrose', 'c4c9334bac560ecc979e58001b3e22fb']);
  assert.equal(parseArgs('apop', 'mrose nothex'), null);
  assert.deepEqual(parseArgs('auth', 'plain dGVzdA=='), { n: 0, m: 0, text: 'PLAIN', text2: 'dGVzdA==' });
  assert.equal(parseArgs('auth', 'a b c'), null);
});

test('folder selector: first group is the folder, the match leaves the name', () => {
  const o = testOptions({ folder_pattern: '\\+([^@]+)' });
  assert.deepEqual(splitFolder(o, 'joe+Spam@example.com'), { user: 'joe@example.com', folder: 'Spam' });
  assert.deepEqual(splitFolder(o, 'joe@example.com'), { user: 'joe@example.com', folder: undefined });
  assert.deepEqual(splitFolder(testOptions(), 'joe+Spam@x'), { user: 'joe+Spam@x', folder: undefined });
  assert.deepEqual(splitFolder(testOptions({ folder_pattern: '([' }), 'a+b'), {
    user: 'a+b',
    folder: undefined,
  });
});

test('failure policy: doubles per address, capped, others unaffected', () => {
  assert.equal(failureDelay(1, 2000, 30000), 2000);
  assert.equal(failureDelay(3, 2000, 30000), 8000);
  assert.equal(failureDelay(50, 2000, 30000), 30000);
  assert.equal(failureDelay(5, 0, 30000), 0);
  const p = new FailurePolicy();
  const t = 1_000_000;
  assert.equal(p.fail('192.0.2.1', 1000, 60000, t), 1000);
  assert.equal(p.fail('192.0.2.1', 1000, 60000, t + 1), 2000);
  assert.equal(p.fail('192.0.2.2', 1000, 60000, t + 2), 1000);
  assert.equal(p.failures('192.0.2.1', t + 3), 2);
  // Forgotten after a quiet period.
  assert.equal(p.fail('192.0.2.1', 1000, 60000, t + 16 * 60_000), 1000);
});

test('login stamp: too soon is refused, later allowed, missing maildrop ignored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pop3-stamp-'));
  try {
    const t = 1_800_000_000_000;
    assert.deepEqual(loginStamp({ dir, delayMs: 60_000, now: t }), { ok: true });
    assert.equal(Math.round(statSync(join(dir, LOGIN_STAMP_FILE)).mtimeMs), t);
    assert.deepEqual(loginStamp({ dir, delayMs: 60_000, now: t + 30_000 }), { ok: false, waitMs: 30_000 });
    assert.deepEqual(loginStamp({ dir, delayMs: 60_000, now: t + 61_000 }), { ok: true });
    assert.deepEqual(loginStamp({ dir, delayMs: 60_000, now: t + 62_000 }), { ok: false, waitMs: 59_000 });
    assert.deepEqual(loginStamp({ dir: join(dir, 'missing'), delayMs: 1000, now: t }), { ok: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('capa: per state and connection facts', () => {
  const o = testOptions({ login_delay: 900_000, expire: '30' });
  const auth = buildCapa(o, { plaintext: true, stls: true, transaction: false });
  assert.match(auth, /^\+OK[^\r]*\r\n/);
  for (const c of [
    'TOP',
    'UIDL',
    'USER',
    'SASL PLAIN',
    'RESP-CODES',
    'AUTH-RESP-CODE',
    'PIPELINING',
    'STLS',
  ]) {
    assert.ok(auth.split('\r\n').includes(c), c);
  }
  assert.ok(auth.includes('\r\nLOGIN-DELAY 900\r\n'));
  assert.ok(auth.includes('\r\nEXPIRE 30\r\n'));
  assert.ok(auth.includes('\r\nIMPLEMENTATION '));
  assert.ok(auth.endsWith('\r\n.\r\n'));
  const noPlain = buildCapa(o, { plaintext: false, stls: false, transaction: false });
  assert.ok(!noPlain.includes('USER') && !noPlain.includes('SASL') && !noPlain.includes('STLS'));
  const trans = buildCapa(testOptions(), { plaintext: true, stls: true, transaction: true });
  assert.ok(!trans.includes('USER') && !trans.includes('STLS') && !trans.includes('LOGIN-DELAY'));
  assert.equal(expireValue('never'), 'NEVER');
  assert.equal(expireValue('x'), 'NEVER');
});
