// Password schemes against hashes made by real tools (the command that made each is beside it),
// and our own hashes checked both ways. The password is 's3cret pässword' (UTF-8) throughout.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { desCrypt } from '../../src/auth/descrypt.js';
import { md5Crypt } from '../../src/auth/md5crypt.js';
import { hashPassword, storedPlaintext, verifyPassword } from '../../src/auth/passwords.js';

const PW = 's3cret pässword';

// [scheme label, stored value, command that produced it]
const VECTORS: readonly (readonly [string, string, string])[] = [
  ['PLAIN', '{PLAIN}s3cret pässword', 'doveadm pw -s PLAIN'],
  ['CLEARTEXT', '{CLEARTEXT}s3cret pässword', 'doveadm pw -s CLEARTEXT'],
  ['CRYPT', '{CRYPT}$2y$05$0ThT8/ejgkXepB8BTvsD3usjtLwUnIm3ubCBI0pRgbi.qAgYqQI3e', 'doveadm pw -s CRYPT'],
  ['MD5-CRYPT', '{MD5-CRYPT}$1$EutQjNxd$FjhAYGHKOc54eepyXEzfp1', 'doveadm pw -s MD5-CRYPT'],
  [
    'SHA256-CRYPT',
    '{SHA256-CRYPT}$5$FhXQSKmcKzUb4iMM$bgXNoE7E79JP.di7SJyFyujj0rVTxj0am2gvz8GiWR1',
    'doveadm pw -s SHA256-CRYPT',
  ],
  [
    'SHA512-CRYPT',
    '{SHA512-CRYPT}$6$adCjfitAfTHeCeR9$AcGcM4eI866uMSZFJtWsTt3klyzAIGrt3aTCVETYDi/Rn8/oQeZuFPp3e5vIx6.YE4o0UWK7meMCcCcIToiip0',
    'doveadm pw -s SHA512-CRYPT',
  ],
  [
    'BLF-CRYPT',
    '{BLF-CRYPT}$2y$05$86qEQqYleH2ru4OUQ9jrReT4QA1tlBJc8P2YjjgTc1yLVsU.caKnO',
    'doveadm pw -s BLF-CRYPT',
  ],
  [
    'ARGON2I',
    '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$nNzTUdourKY9i8RQ6JC70w$LanrOtOFc6EqoD36XOUckkY7hZg8MgFptTCv4VO77+o',
    'doveadm pw -s ARGON2I',
  ],
  [
    'ARGON2ID',
    '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$OiPR8h3Aa5pKatTqrJekPA$GMedDsPGUWalhu/c8aTfPrpYu3fWwyn0E8DfJSye9Ck',
    'doveadm pw -s ARGON2ID',
  ],
  ['SSHA', '{SSHA}63oVI+89TAe0bjJNq7OmXG3unB08+8F9', 'doveadm pw -s SSHA'],
  ['SSHA256', '{SSHA256}KHrCdJqXTiDdgVY1ATIz+d3BhFP9yBmBAwx92sVB+h83xq9J', 'doveadm pw -s SSHA256'],
  [
    'SSHA512',
    '{SSHA512}yGT1U3s7QsdIifm/q6oHPKG/i3wwSpSYMGQ7kDcq3y9aGj+X/FNpB5rpvYSxmavWWC7ORQxt37GkSSdRWiGx1KGZOzM=',
    'doveadm pw -s SSHA512',
  ],
  ['SMD5', '{SMD5}LHzx07op3fNbm3qoi/bQiXubaNY=', 'doveadm pw -s SMD5'],
  ['PLAIN-MD5', '{PLAIN-MD5}a71e49a97820329296832b2440cdd04b', 'doveadm pw -s PLAIN-MD5'],
  ['LDAP-MD5', '{LDAP-MD5}px5JqXggMpKWgyskQM3QSw==', 'doveadm pw -s LDAP-MD5'],
  ['SHA', '{SHA}4a7WJhB7BtxFrkkm1H43wyaGvNY=', 'doveadm pw -s SHA'],
  ['SHA256', '{SHA256}47FgFsxLhhlRtrSm6MYmp0H3X1h/J3P8SEekziDJyDc=', 'doveadm pw -s SHA256'],
  [
    'SHA512',
    '{SHA512}qJEEWzYCJAdtKSr2dqR7PZt7mAhp4NgyVNsfp7EyKDLWbVG4y25yvkb4ZgPXiCVQ7wV/oOtfNR5GLskL4AY6qA==',
    'doveadm pw -s SHA512',
  ],
  ['bare $1$', '$1$abcdefgh$tC06E1qCIfB8BmGcRMCSg/', 'openssl passwd -1 -salt abcdefgh'],
  ['bare $1$ short salt', '$1$shortsl$TjbFFsH293qCNWd9wApMY0', "python3 crypt.crypt(pw, '$1$shortsl$')"],
  ['bare $apr1$', '$apr1$abcdefgh$7.W7scDs7nJMzUjiNRvDm0', 'openssl passwd -apr1 -salt abcdefgh'],
  [
    'bare $5$',
    '$5$abcdefghijkl$aFVAkua19RJJZCVx/AUwg8C7wLQ45q6gBoWZ2Mpvyc9',
    'openssl passwd -5 -salt abcdefghijkl',
  ],
  [
    'bare $6$',
    '$6$abcdefghijkl$sLDR5u4CXP5ZnbP.euVMKPHDuZTIGzhH67W6i8BibfBn5pFQwEa4gvUoLBSu8PMDXbSbIQnfHXR8xPOuqSt9M0',
    'openssl passwd -6 -salt abcdefghijkl',
  ],
  [
    'bare $6$ rounds=10000',
    '$6$rounds=10000$saltsaltsalt$6JC43FhrUQe0Pse6399mlRL.IezVxqGm0wFxRuePCQCqp65oc.g/B1ys1vHx4dDywJ351GCBt1L8xsM49wE/T0',
    "python3 crypt.crypt(pw, '$6$rounds=10000$saltsaltsalt')",
  ],
  [
    'bare $2b$',
    '$2b$05$PQdZ2hhwrD8XvsBRZ/CqD.ULZrmg5YsT2bxBnL9RFBCAaz5gsv6jC',
    'python3 crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))',
  ],
  [
    'bare $2a$',
    '$2a$05$abcdefghijklmnopqrstuuakWOE.k8W3KIQRdMS7TYTuHNi72.Z3K',
    "python3 crypt.crypt(pw, '$2a$05$abcdefghijklmnopqrstuu')",
  ],
  ['CRYPT (DES)', '{CRYPT}abTk71qDTQKMY', "python3 crypt.crypt(pw, 'ab')"],
  ['DES-CRYPT', '{DES-CRYPT}abTk71qDTQKMY', "python3 crypt.crypt(pw, 'ab')"],
  ['bare plaintext', 's3cret pässword', '(stored as is)'],
];

for (const [label, stored, made] of VECTORS) {
  test(`${label} (${made}): right password matches, wrong ones do not`, async () => {
    assert.equal(await verifyPassword(PW, stored), true);
    // DES crypt reads 8 characters only: a longer wrong password would match
    if (!label.includes('DES')) assert.equal(await verifyPassword(`${PW}x`, stored), false);
    assert.equal(await verifyPassword('S3cret pässword', stored), false);
  });
}

test('scheme names are case-insensitive; .HEX/.B64 suffixes pick the digest encoding', async () => {
  assert.equal(await verifyPassword(PW, '{ssha256}KHrCdJqXTiDdgVY1ATIz+d3BhFP9yBmBAwx92sVB+h83xq9J'), true);
  // doveadm pw -s SHA256.HEX
  const hex = '{SHA256.HEX}e3b16016cc4b861951b6b4a6e8c626a741f75f587f2773fc4847a4ce20c9c837';
  assert.equal(await verifyPassword(PW, hex), true);
  assert.equal(await verifyPassword(PW, '{PLAIN-MD5.B64}px5JqXggMpKWgyskQM3QSw=='), true);
});

test('never matches: empty values, unknown schemes, unsupported crypt ids, malformed hashes', async () => {
  assert.equal(await verifyPassword('', '{PLAIN}'), false);
  assert.equal(await verifyPassword('', ''), false);
  assert.equal(await verifyPassword(PW, ''), false);
  assert.equal(await verifyPassword(PW, `{NOPE}${PW}`), false);
  // yescrypt (Debian's default crypt): not supported, so never a match, and not taken as plaintext
  assert.equal(await verifyPassword('$y$j9T$abc$def', '$y$j9T$abc$def'), false);
  assert.equal(await verifyPassword(PW, '{SHA512-CRYPT}$6$'), false);
  assert.equal(await verifyPassword(PW, '{ARGON2ID}$argon2id$v=19$garbage'), false);
  assert.equal(await verifyPassword(PW, '{SSHA}AAAA'), false);
  assert.equal(await verifyPassword(PW, '{SHA256}tooshort'), false);
});

test('md5Crypt agrees with openssl for several passwords and salts', () => {
  let openssl = true;
  try {
    execFileSync('openssl', ['version']);
  } catch {
    openssl = false;
  }
  const cases: [string, string][] = [
    ['', 'saltsalt'],
    ['a', 'x'],
    ['0123456789abcdef0123456789abcdef-long', '12345678'],
  ];
  for (const [pw, salt] of cases) {
    const ours = md5Crypt(Buffer.from(pw), salt);
    if (openssl) {
      const theirs = execFileSync('openssl', ['passwd', '-1', '-salt', salt, pw], {
        encoding: 'utf8',
      }).trim();
      assert.equal(ours, theirs, `password ${JSON.stringify(pw)}`);
    } else {
      assert.match(ours, /^\$1\$/);
    }
  }
});

test('desCrypt agrees with glibc crypt (python3 crypt.crypt(pw, salt)); only 8 characters count', () => {
  const cases: [string, string, string][] = [
    ['', '..', '..X8NBuQ4l6uQ'],
    ['a', 'zz', 'zzJZ5PtvFqi9o'],
    ['password', 'Xy', 'Xy2PtsPf0839Y'],
    ['12345678901', './', './qw5JW./79Vg'],
    ['ÿ€x', '9A', '9Ab2th6GGqVSU'],
  ];
  for (const [pw, salt, want] of cases) assert.equal(desCrypt(Buffer.from(pw), salt), want, pw);
  assert.equal(desCrypt(Buffer.from('12345678'), './'), './qw5JW./79Vg');
});

test('a bare 13-character value is a plaintext password, not DES', async () => {
  assert.equal(await verifyPassword(PW, 'abTk71qDTQKMY'), false);
  assert.equal(await verifyPassword('abTk71qDTQKMY', 'abTk71qDTQKMY'), true);
});

test('hashPassword: every scheme verifies, each call salts anew', async () => {
  for (const scheme of ['SHA512-CRYPT', 'BLF-CRYPT', 'ARGON2ID', 'PLAIN'] as const) {
    const h = await hashPassword(PW, scheme);
    assert.ok(h.startsWith(`{${scheme}}`), h);
    assert.equal(await verifyPassword(PW, h), true, scheme);
    assert.equal(await verifyPassword('other', h), false, scheme);
  }
  const a = await hashPassword(PW);
  const b = await hashPassword(PW);
  assert.match(a, /^\{SHA512-CRYPT\}\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  assert.notEqual(a, b);
});

test('our SHA512-CRYPT hashes verify with doveadm when it is installed', async (t) => {
  try {
    execFileSync('doveadm', ['pw', '-l'], { stdio: 'ignore' });
  } catch {
    t.skip('doveadm not installed');
    return;
  }
  const h = await hashPassword(PW);
  const out = execFileSync('doveadm', ['pw', '-t', h, '-p', PW], { encoding: 'utf8' });
  assert.match(out, /\(verified\)/);
});

test('storedPlaintext: only plaintext values are usable for APOP', () => {
  assert.equal(storedPlaintext('{PLAIN}tanstaaf'), 'tanstaaf');
  assert.equal(storedPlaintext('{cleartext}tanstaaf'), 'tanstaaf');
  assert.equal(storedPlaintext('tanstaaf'), 'tanstaaf');
  assert.equal(storedPlaintext('$6$abc$def'), null);
  assert.equal(storedPlaintext('{SHA512-CRYPT}$6$abc$def'), null);
  assert.equal(storedPlaintext('{SSHA}63oVI+89TAe0bjJNq7OmXG3unB08+8F9'), null);
  assert.equal(storedPlaintext('{PLAIN}'), null);
  assert.equal(storedPlaintext(''), null);
});
