// MD5-CRYPT (`$1$`, FreeBSD/glibc) and Apache's `$apr1$` variant, on node:crypto's MD5.
// Written here rather than taken from npm: the candidates (apache-md5, nano-md5) are small
// unmaintained one-file packages, and the algorithm is 40 lines of public, frozen specification
// (Poul-Henning Kamp's md5crypt, 1994). Tested against `openssl passwd -1/-apr1` and doveadm output.
import { createHash } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function to64(v: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    s += ITOA64[v & 0x3f];
    v >>>= 6;
  }
  return s;
}

/** The full hash (`$1$salt$...`) of `password` with `salt` (at most 8 characters are used). */
export function md5Crypt(password: Buffer, salt: string, magic: '$1$' | '$apr1$' = '$1$'): string {
  const s = Buffer.from(salt.split('$')[0].slice(0, 8), 'latin1');
  const m = Buffer.from(magic, 'latin1');

  const alt = createHash('md5').update(password).update(s).update(password).digest();
  const ctx = createHash('md5').update(password).update(m).update(s);
  for (let pl = password.length; pl > 0; pl -= 16) ctx.update(alt.subarray(0, Math.min(pl, 16)));
  const zero = Buffer.alloc(1);
  const first = password.subarray(0, 1);
  for (let i = password.length; i; i >>>= 1) ctx.update(i & 1 ? zero : first);
  let f = ctx.digest();

  // 1000 rounds to slow down brute force (the 1994 idea of "slow").
  for (let i = 0; i < 1000; i++) {
    const c = createHash('md5');
    c.update(i & 1 ? password : f);
    if (i % 3) c.update(s);
    if (i % 7) c.update(password);
    c.update(i & 1 ? f : password);
    f = c.digest();
  }

  const out =
    to64((f[0] << 16) | (f[6] << 8) | f[12], 4) +
    to64((f[1] << 16) | (f[7] << 8) | f[13], 4) +
    to64((f[2] << 16) | (f[8] << 8) | f[14], 4) +
    to64((f[3] << 16) | (f[9] << 8) | f[15], 4) +
    to64((f[4] << 16) | (f[10] << 8) | f[5], 4) +
    to64(f[11], 2);
  return `${magic}${s.toString('latin1')}$${out}`;
}
