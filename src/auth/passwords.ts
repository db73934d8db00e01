// Password schemes as hosting panels store them (Dovecot's names): `{SCHEME}value`, or the bare
// crypt form (`$6$...`). CPU-heavy: call verifyPassword/hashPassword only inside a worker
// (src/auth/tasks.ts), never on the event loop.
//
// Bare values: a value that looks like a crypt hash (`$id$...`) is verified as one (unknown ids,
// e.g. yescrypt `$y$`, never match); any other bare value is a plaintext password, as with
// Dovecot's default_pass_scheme=PLAIN. Traditional DES crypt (13 characters) cannot be told from
// a plaintext password, so it needs its prefix: `{CRYPT}abTk71qDTQKMY`. An unknown `{SCHEME}` never matches, and neither does an
// empty stored value or an empty password.
//
// Async because Argon2 (hash-wasm, WebAssembly) has only an async API; every other scheme runs
// synchronously inside the returned promise.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { argon2id, argon2Verify } from 'hash-wasm';
import { encrypt as shaCrypt, verify as shaCryptVerify } from 'unixcrypt';
import { DES_CRYPT, desCrypt } from './descrypt.js';
import { md5Crypt } from './md5crypt.js';

export type HashScheme = 'SHA512-CRYPT' | 'BLF-CRYPT' | 'ARGON2ID' | 'PLAIN';

const CRYPT_SCHEMES = new Set([
  'CRYPT',
  'DES-CRYPT',
  'MD5',
  'MD5-CRYPT',
  'SHA256-CRYPT',
  'SHA512-CRYPT',
  'BLF-CRYPT',
  'ARGON2I',
  'ARGON2ID',
]);
const PLAIN_SCHEMES = new Set(['PLAIN', 'CLEARTEXT']);
/** Unsalted digests: the value is the digest in hex or base64. */
const DIGESTS: Readonly<Record<string, string>> = {
  'PLAIN-MD5': 'md5',
  'LDAP-MD5': 'md5',
  SHA: 'sha1',
  SHA1: 'sha1',
  SHA256: 'sha256',
  SHA512: 'sha512',
};
/** Salted digests: base64(digest(password + salt) + salt). */
const SALTED: Readonly<Record<string, string>> = {
  SMD5: 'md5',
  SSHA: 'sha1',
  SSHA256: 'sha256',
  SSHA512: 'sha512',
};
const DIGEST_LENGTH: Readonly<Record<string, number>> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

const PREFIX = /^\{([A-Za-z0-9-]+)(?:\.(HEX|B64|BASE64))?\}/i;
const CRYPT_FORM = /^\$[0-9a-z]+\$/;

export interface ParsedStored {
  /** Upper-case scheme, or null for a bare value. */
  scheme: string | null;
  /** Encoding suffix of `{SCHEME.HEX}` / `{SCHEME.B64}`, upper-case. */
  encoding: string | null;
  value: string;
}

export function parseStored(stored: string): ParsedStored {
  const m = PREFIX.exec(stored);
  if (!m) return { scheme: null, encoding: null, value: stored };
  return {
    scheme: m[1].toUpperCase(),
    encoding: m[2] ? m[2].toUpperCase() : null,
    value: stored.slice(m[0].length),
  };
}

/**
 * The plaintext password a stored value holds, for APOP: `{PLAIN}`/`{CLEARTEXT}` values and bare
 * values that are not crypt hashes (see the file comment). Null when the value is a hash.
 */
export function storedPlaintext(stored: string): string | null {
  const p = parseStored(stored);
  if (p.scheme === null) return p.value === '' || CRYPT_FORM.test(p.value) ? null : p.value;
  if (PLAIN_SCHEMES.has(p.scheme) && p.encoding === null && p.value !== '') return p.value;
  return null;
}

/** Whether `plain` matches `stored`. Never throws: a malformed or unsupported value is `false`. */
export async function verifyPassword(plain: string, stored: string): Promise<boolean> {
  if (plain === '' || stored === '') return false;
  try {
    const p = parseStored(stored);
    const pw = Buffer.from(plain, 'utf8');
    if (p.scheme === null) {
      return CRYPT_FORM.test(p.value) ? await verifyCrypt(plain, pw, p.value) : safeEqual(pw, p.value);
    }
    if (PLAIN_SCHEMES.has(p.scheme)) return p.encoding === null && safeEqual(pw, p.value);
    if (CRYPT_SCHEMES.has(p.scheme)) return await verifyCrypt(plain, pw, p.value);
    const digest = DIGESTS[p.scheme];
    if (digest) {
      const want = decodeDigest(p.value, DIGEST_LENGTH[digest], p.encoding);
      return want !== null && safeEqualBytes(createHash(digest).update(pw).digest(), want);
    }
    const salted = SALTED[p.scheme];
    if (salted) {
      const raw = Buffer.from(p.value, 'base64');
      const len = DIGEST_LENGTH[salted];
      if (raw.length <= len) return false;
      const got = createHash(salted).update(pw).update(raw.subarray(len)).digest();
      return safeEqualBytes(got, raw.subarray(0, len));
    }
    return false;
  } catch {
    return false;
  }
}

async function verifyCrypt(plain: string, pw: Buffer, hash: string): Promise<boolean> {
  if (hash.startsWith('$1$') || hash.startsWith('$apr1$')) {
    const magic = hash.startsWith('$1$') ? '$1$' : '$apr1$';
    const salt = hash.slice(magic.length);
    return safeEqual(Buffer.from(md5Crypt(pw, salt, magic), 'latin1'), hash);
  }
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return shaCryptVerify(plain, hash);
  // Only reached with a {CRYPT}/{DES-CRYPT} prefix: a bare 13-character value is plaintext.
  if (DES_CRYPT.test(hash)) return safeEqual(Buffer.from(desCrypt(pw, hash), 'latin1'), hash);
  if (/^\$2[aby]\$\d\d\$/.test(hash)) return bcrypt.compareSync(plain, hash);
  if (hash.startsWith('$argon2i$') || hash.startsWith('$argon2id$')) {
    // Dovecot/libsodium may pad base64 with '='; hash-wasm wants it unpadded.
    return await argon2Verify({ password: pw, hash: hash.replace(/=+(?=\$|$)/g, '') });
  }
  return false;
}

function decodeDigest(value: string, len: number, encoding: string | null): Buffer | null {
  const hex =
    encoding === 'HEX' || (encoding === null && value.length === len * 2 && /^[0-9a-f]+$/i.test(value));
  const b = Buffer.from(value, hex ? 'hex' : 'base64');
  return b.length === len ? b : null;
}

/** Constant time for equal lengths; unequal lengths compare hashes so timing says nothing either. */
function safeEqualBytes(a: Buffer, b: Buffer): boolean {
  if (a.length === b.length) return timingSafeEqual(a, b);
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
  return false;
}

function safeEqual(a: Buffer, b: string): boolean {
  return safeEqualBytes(a, Buffer.from(b, 'utf8'));
}

/** Constant-time string comparison (UTF-8 bytes). */
export function constantTimeEqual(a: string, b: string): boolean {
  return safeEqual(Buffer.from(a, 'utf8'), b);
}

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function cryptSalt(n: number): string {
  const bytes = randomBytes(n);
  let s = '';
  for (const b of bytes) s += ITOA64[b & 0x3f];
  return s;
}

/** A stored value with its `{SCHEME}` prefix; SHA512-CRYPT (5000 rounds, 16-char salt) by default. */
export async function hashPassword(plain: string, scheme: HashScheme = 'SHA512-CRYPT'): Promise<string> {
  switch (scheme) {
    case 'SHA512-CRYPT':
      return `{SHA512-CRYPT}${shaCrypt(plain, `$6$${cryptSalt(16)}`)}`;
    case 'BLF-CRYPT':
      return `{BLF-CRYPT}${bcrypt.hashSync(plain, 10)}`;
    case 'ARGON2ID': {
      // Dovecot's ARGON2ID defaults: m=64 MiB, t=3, p=1.
      const encoded = await argon2id({
        password: plain,
        salt: randomBytes(16),
        iterations: 3,
        memorySize: 65536,
        parallelism: 1,
        hashLength: 32,
        outputType: 'encoded',
      });
      return `{ARGON2ID}${encoded}`;
    }
    case 'PLAIN':
      return `{PLAIN}${plain}`;
  }
}
